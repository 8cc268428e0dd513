"""What `make` rebuilds: nothing after a complete `make all`; export -> infer -> score (never preprocess or
labels) when BS, the model code or WEIGHTS change; preprocess + labels when DATA_ROOT changes; and
`make clean` removes ARTIFACTS only. "What if" questions use `make -n` (and `-W FILE`, which changes
nothing on disk) on private copies of the shared run's tree, because the WEIGHTS/DATA_ROOT stamps are
rewritten at parse time even under -n."""
import json
import re
import shutil
import subprocess

import pytest

import pipeline_helpers as ph

STEPS = ("export", "simplify", "preprocess", "labels", "infer", "provenance", "score", "table", "check_env")


def steps(make_output: str) -> list[str]:
    """The kit steps a (dry-run) make output would execute, in order."""
    found = []
    for line in make_output.splitlines():
        m = re.search(r"tools/(\w+)\.py", line)
        if not m:
            continue
        tool = m.group(1)
        name = {"export_onnx": "simplify" if "--simplify" in line else "export", "prepare_cityscapes": "labels",
                "infer_ort": "infer", "results_table": "table"}.get(tool, tool)
        found.append(name)
    return found


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    return ph.shared_ort(tmp_path_factory)


@pytest.fixture
def tree(shared, tmp_path):
    return ph.copy_tree(shared["artifacts"], tmp_path / "artifacts")


def dry(tree, data, flags=(), **over):
    proc = ph.run_make(["all"], tree, data, ph.ort_vars(**over), flags=["-n", *flags])
    return steps(proc.stdout), proc


def test_complete_tree_is_up_to_date(shared, tree):
    data = shared["data"]
    before = ph.mtimes(tree)
    q = ph.run_make(["all"], tree, data, ph.ort_vars(), flags=["-q"], check=False)
    assert q.returncode == 0, q.stdout + q.stderr
    n = ph.run_make(["all"], tree, data, ph.ort_vars(), flags=["-n"])
    assert n.stdout.strip() == "make: Nothing to be done for 'all'."
    again = ph.run_make(["all"], tree, data, ph.ort_vars())
    assert again.stdout.strip() == "make: Nothing to be done for 'all'."
    assert ph.mtimes(tree) == before


def test_bs_change_rebuilds_export_infer_score_only(shared, tree):
    data = shared["data"]
    planned, _ = dry(tree, data, BS="2")
    assert planned == ["export", "simplify", "infer", "provenance", "score", "table"]
    # and for real: bins and labels are not touched, the BS=2 run (4 batches, last one partial) scores the same
    keep = {k: v for k, v in ph.mtimes(tree).items() if k.startswith(("bins/", "labels/"))}
    ph.run_make(["all"], tree, data, ph.ort_vars(BS="2"))
    assert {k: v for k, v in ph.mtimes(tree).items() if k.startswith(("bins/", "labels/"))} == keep
    run2 = ph.ORT_RUN.replace(f"_bs{ph.BS}_", "_bs2_")
    report = ph.read_json(ph.report_path(tree, run2))
    assert report["mIoU"] == shared["report"]["mIoU"] and report["num_images"] == ph.N_IMAGES
    assert ph.pred_files(tree, run2) == ph.pred_files(shared["artifacts"], ph.ORT_RUN)
    assert ph.read_json(tree / "preds" / f"{run2}_summary.json")["NPU_compute_time"]["count"] == 4


def test_model_code_change_rebuilds_from_export(shared, tree):
    before = ph.mtimes(tree)
    planned, _ = dry(tree, shared["data"], flags=["-W", "tools/semask/model/network.py"])
    assert planned == ["export", "simplify", "infer", "provenance", "score", "table"]
    for code in ("tools/semask/model/checkpoint.py", "tools/semask/model/export.py", "tools/export_onnx.py"):
        assert dry(tree, shared["data"], flags=["-W", code])[0][:2] == ["export", "simplify"], code
    assert ph.mtimes(tree) == before  # -W -n changes nothing


@pytest.mark.parametrize("code,first", [("tools/semask/data/bins.py", "preprocess"), ("tools/semask/data/labels.py", "labels"),
                                        ("tools/semask/evaluate/scoring.py", "provenance")])
def test_step_code_change_reruns_that_step_not_export(shared, tree, code, first):
    planned, _ = dry(tree, shared["data"], flags=["-W", code])
    assert first in planned and "export" not in planned, planned


def test_normalisation_constants_change_reruns_bins_and_export(shared, tree):
    """MEAN/STD live in spec.py and feed both preprocessing and uint8-input graphs."""
    planned, _ = dry(tree, shared["data"], flags=["-W", "tools/semask/spec.py"])
    assert "preprocess" in planned and "export" in planned, planned


def test_changed_preprocess_code_does_not_trust_old_bins(tmp_path, shared):
    """The bins manifest records a fingerprint of the code that wrote them; another fingerprint redoes them."""
    out = tmp_path / "bins"
    cmd = [ph.python(), "tools/preprocess.py", "--data-root", str(shared["data"]), "--out", str(out),
           "--height", "64", "--width", "128", "--limit", "2", "--jobs", "1"]
    subprocess.run(cmd, cwd=ph.ROOT, check=True, capture_output=True, env=ph.clean_env())
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["code"] = "0" * 16  # as if written by other code
    (out / "manifest.json").write_text(json.dumps(manifest))
    proc = subprocess.run(cmd, cwd=ph.ROOT, check=True, capture_output=True, text=True,
                          env=ph.clean_env())
    assert "(2 written)" in proc.stdout


@pytest.mark.parametrize("weights", ["copy", "random"])
def test_weights_swap_rebuilds_from_export(shared, tree, tmp_path, weights):
    if weights == "copy":  # same bytes, another path, an OLD mtime: only the WEIGHTS stamp can notice
        weights = tmp_path / "golden_copy.npz"
        shutil.copy2(ph.ROOT / ph.GOLDEN_WEIGHTS, weights)
    planned, proc = dry(tree, shared["data"], WEIGHTS=str(weights))
    assert planned == ["export", "simplify", "infer", "provenance", "score", "table"]
    assert f"--weights '{weights}'" in proc.stdout


def test_data_root_change_rebuilds_bins_and_labels_not_export(shared, tree, tmp_path):
    other = tmp_path / "other data"
    shutil.copytree(shared["data"], other)
    planned, _ = dry(tree, other)
    assert "export" not in planned and "simplify" not in planned
    assert {"preprocess", "labels", "infer", "score"} <= set(planned)


def test_data_content_change_in_same_data_root_reruns_bins_and_labels(shared, tmp_path):
    """Replacing a file inside DATA_ROOT (what the bad-input errors tell users to do) must be noticed."""
    data = tmp_path / "data"
    shutil.copytree(shared["data"], data)  # keeps mtimes
    tree = ph.copy_tree(shared["artifacts"], tmp_path / "artifacts")
    ph.run_make(["all"], tree, data, ph.ort_vars())  # DATA_ROOT path changed: bins + labels redone once
    assert dry(tree, data)[0] == []
    img = next((data / "leftImg8bit" / "val" / "lindau").iterdir())
    img.write_bytes(img.read_bytes())  # same bytes, new mtime: like re-extracting the archive
    planned, _ = dry(tree, data)
    assert "export" not in planned and {"preprocess", "labels", "score"} <= set(planned)


def test_make_clean_removes_artifacts_only(shared, tree):
    data_before = ph.mtimes(shared["data"])
    weights = (ph.ROOT / ph.GOLDEN_WEIGHTS).stat().st_mtime_ns
    ph.run_make(["clean"], tree, None)
    assert not tree.exists()
    assert ph.mtimes(shared["data"]) == data_before and (ph.ROOT / ph.GOLDEN_WEIGHTS).stat().st_mtime_ns == weights
