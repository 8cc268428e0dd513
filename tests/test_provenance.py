"""Provenance of a `make all` report (ORT and Ascend paths), and byte-reproducibility: a second run of the
same configuration into another ARTIFACTS folder gives identical ONNX, bins, labels and predictions."""
import datetime
import hashlib
import re
import shlex

import pytest

import pipeline_helpers as ph

UPSTREAM = "f12cf00c86afe669dfbea1dff0f8053ba49fed56"


def sha256(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def ort(tmp_path_factory):
    return ph.shared_ort(tmp_path_factory)


@pytest.fixture(scope="module")
def second(ort, tmp_path_factory):
    """The same configuration again, from scratch, into another ARTIFACTS folder."""
    arts = tmp_path_factory.mktemp("repro") / "artifacts"
    ph.run_make(["all"], arts, ort["data"], ph.ort_vars())
    return arts


def check_common(prov, arts, backend, provider, command_vars, onnx_name):
    assert re.fullmatch(r"[0-9a-f]{40}", prov["kit"]["commit"]) and isinstance(prov["kit"]["dirty"], bool)
    assert prov["upstream"]["commit"] == UPSTREAM
    assert prov["backend"] == backend and prov["provider"] == provider
    v = prov["variables"]
    assert {k: v[k] for k in ("MODEL", "BS", "HEIGHT", "WIDTH", "INPUT_DTYPE", "LABEL_DTYPE", "PRECISION", "LIMIT")} == {
        "MODEL": "reduced", "BS": str(ph.BS), "HEIGHT": str(ph.H), "WIDTH": str(ph.W), "INPUT_DTYPE": "float32",
        "LABEL_DTYPE": "int32", "PRECISION": "force_fp16", "LIMIT": str(ph.N_IMAGES)}
    assert "SOC" in v and v["WEIGHTS"] == ph.GOLDEN_WEIGHTS
    files = prov["files"]
    assert files["weights"]["sha256"] == sha256(ph.ROOT / ph.GOLDEN_WEIGHTS)
    assert files["onnx"]["sha256"] == sha256(arts / "onnx" / onnx_name)
    for pkg in ("numpy", "torch", "onnx", "onnxruntime", "opencv"):
        assert prov["packages"][pkg], pkg
    assert prov["python"] and prov["host"]["name"] and prov["host"]["cpu"] and prov["host"]["cores"] >= 1
    date = datetime.datetime.fromisoformat(prov["date"])
    assert date.tzinfo is not None and abs((datetime.datetime.now(datetime.timezone.utc) - date).days) <= 1
    words = shlex.split(prov["command"])
    assert words[:2] == ["make", "all"]
    assert set(command_vars) <= set(words[2:]), (command_vars, words)


def test_ort_report_provenance(ort):
    arts = ort["artifacts"]
    prov = ort["report"]["provenance"]
    cmd = ph.make_cmd(["all"], arts, ort["data"], ph.ort_vars())
    check_common(prov, arts, "ort", "cpu", cmd[2:], ph.ORT_ONNX)
    assert prov["variables"]["DATA_ROOT"] == str(ort["data"]) and " " in prov["variables"]["DATA_ROOT"]
    assert prov["variables"]["BACKEND"] == "ort" and prov["variables"]["ORT_PROVIDER"] == "cpu"
    assert "om" not in prov["files"]
    assert prov["score"]["labels_manifest_sha256"] == sha256(arts / "labels" / ph.LABELS_NAME / "labels.json")


def test_ascend_report_provenance_has_om(tmp_path_factory):
    asc = ph.shared_ascend(tmp_path_factory)
    arts = asc["artifacts"]
    prov = asc["report"]["provenance"]
    check_common(prov, arts, "ascend", "ais_bench", ph.make_cmd(["all"], arts, asc["data"], asc["vars"])[2:],
                 f"{ph.STEM}_sim.onnx")
    assert prov["variables"]["SOC"] == ph.SOC and prov["variables"]["BACKEND"] == "ascend"
    om = arts / "om" / f"{ph.STEM}_{ph.SOC}_force_fp16.om"
    assert prov["files"]["om"]["sha256"] == sha256(om) == ph.read_json(om.with_suffix(".json"))["om_sha256"]
    assert isinstance(prov["ascend"], dict)


def test_two_runs_are_byte_identical(ort, second):
    first = ort["artifacts"]
    assert ph.pred_files(second) == ph.pred_files(first)
    assert ph.read_json(ph.report_path(second))["mIoU"] == ort["report"]["mIoU"]
    for rel in (f"onnx/{ph.STEM}_ort_raw.onnx", f"onnx/{ph.ORT_ONNX}"):
        assert sha256(second / rel) == sha256(first / rel), rel
    bins = f"bins/{ph.BINS_NAME}"
    labels = f"labels/{ph.LABELS_NAME}"
    assert ph.read_json(second / bins / "manifest.json") == ph.read_json(first / bins / "manifest.json")
    assert ph.read_json(second / labels / "labels.json") == ph.read_json(first / labels / "labels.json")
    r1, r2 = ort["report"], ph.read_json(ph.report_path(second))
    assert r1["confusion_matrix"] == r2["confusion_matrix"] and r1["per_class"] == r2["per_class"]
