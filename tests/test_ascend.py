"""Ascend path against the stand-ins: atc command line, SOC=auto, OM sidecar, ais_bench infer/perf."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

STANDINS = Path(__file__).parent / "standins"
sys.path.insert(0, str(STANDINS))
import tiny_onnx  # noqa: E402

from semask.backends.ascend import summary as summary, toolchain as ascend  # noqa: E402

from semask.backends.ort import runtime as ort_backend
from semask.core.errors import KitError  # noqa: E402

NAMES = ["a_10.bin", "a_2.bin", "a_1.bin", "b_1.bin", "a_3.bin", "c.x.bin", "a_20.bin"]


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    d = tmp_path_factory.mktemp("models")
    return {bs: tiny_onnx.make_model(d / f"tiny_bs{bs}.onnx", bs) for bs in (1, 4)}


@pytest.fixture
def standins(standin_log):
    log = standin_log

    def calls(tool, compiles_only=True):
        """argv per call; for atc only the compiles unless compiles_only=False (not --mode=1/--mode=3)."""
        if not log.exists():
            return []
        out = [json.loads(line)["argv"] for line in log.read_text().splitlines() if json.loads(line)["tool"] == tool]
        if tool == "atc" and compiles_only:
            out = [a for a in out if not any(x.startswith("--mode=") for x in a)]
        return out
    return calls


def _compile(model, om, bs=4, soc="Ascend310P3", **kw):
    return ascend.compile_om(ascend.AtcJob(model, om, bs, tiny_onnx.H, tiny_onnx.W, soc, "force_fp16", **kw))


def test_atc_command_line_exact_and_sidecar(models, standins, tmp_path):
    om = tmp_path / "om" / "tiny_bs4.om"
    info = _compile(models[4], om)
    [argv] = standins("atc")
    stem = Path(argv[3].split("=", 1)[1])
    assert stem.parent.parent == om.parent and stem.parent.name.startswith(".tiny_bs4.atc-") and stem.name == "tiny_bs4"
    assert argv == ["atc", "--framework=5", f"--model={models[4].resolve()}", f"--output={stem}", "--input_format=NCHW",
                    "--input_shape=image:4,3,16,32", "--soc_version=Ascend310P3", "--precision_mode=force_fp16",
                    "--log=error"]
    assert om.is_file() and sorted(p.name for p in om.parent.iterdir()) == ["tiny_bs4.atc.log", "tiny_bs4.json", "tiny_bs4.om"]
    # everything the compile step publishes is 0640 in a 0750 folder (what the newest ais_bench accepts)
    assert {p.name: oct(p.stat().st_mode & 0o777) for p in om.parent.iterdir()} == {
        "tiny_bs4.atc.log": "0o640", "tiny_bs4.json": "0o640", "tiny_bs4.om": "0o640"}
    assert oct(om.parent.stat().st_mode & 0o777) == "0o750"
    assert not (tmp_path / "fusion_result.json").exists()
    side = json.loads((om.parent / "tiny_bs4.json").read_text())
    side.pop("placement"), info.pop("placement")
    assert side == info and side["batch_size"] == 4 and side["soc_version"] == "Ascend310P3"
    assert side["precision_mode"] == "force_fp16" and len(side["om_sha256"]) == 64 and side["atc_version"] is None
    assert side["outputs"] == [{"name": "output", "shape": [4, 16, 32], "dtype": "int32"}]


def test_soc_auto_and_os_arch_variant(models, standins, tmp_path, monkeypatch):
    monkeypatch.setenv("STANDIN_NPU_CHIP", "310B1")
    monkeypatch.setenv("STANDIN_ATC_OS_ARCH", "1")
    om = tmp_path / "x.om"
    info = _compile(models[4], om, soc="auto")
    assert info["soc_version"] == "Ascend310B1" and info["soc_source"] == "npu-smi"
    assert standins("atc")[0][6] == "--soc_version=Ascend310B1" and standins("npu-smi") == [["npu-smi", "info"]]
    assert om.is_file() and info["atc_om_name"].startswith("x_linux_")


def test_parse_chip_name_rows():
    text = ("| 0       310P3                 | OK              | NA  42  0 / 0 |\n"
            "| 0       0                     | 0000:82:00.0    | 0   1782 / 21534 |\n"
            "| 3     910B3               | OK            | 93.6        40                0    / 0             |\n")
    assert ascend.parse_chip_name(text, 0) == "310P3"
    assert ascend.parse_chip_name(text, 3) == "910B3"
    with pytest.raises(KitError, match="SOC=Ascend310P3"):
        ascend.parse_chip_name(text, 1)


def test_soc_auto_without_npu_smi(models, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(KitError, match="npu-smi.*SOC=Ascend310P3"):
        ascend.resolve_soc("auto")


def test_atc_failure_shows_tail(models, standins, tmp_path, monkeypatch):
    monkeypatch.setenv("STANDIN_ATC_FAIL", "E19010: No parser is registered for Op [Div]")
    with pytest.raises(KitError) as err:
        _compile(models[4], tmp_path / "f.om")
    assert "E19010" in str(err.value) and "ATC run failed" in str(err.value)
    assert not (tmp_path / "f.om").exists() and not (tmp_path / "f.json").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".f.")] == []


def test_shape_mismatch_refused_before_atc(models, standins, tmp_path):
    with pytest.raises(KitError, match="tiny_bs4.onnx"):
        _compile(models[4], tmp_path / "g.om", bs=8)
    assert standins("atc") == []


def test_ais_infer_matches_ort_and_publishes_atomically(models, standins, tmp_path):
    bins = tiny_onnx.make_bins(tmp_path / "bins", NAMES)
    om = tmp_path / "om" / "tiny_bs4.om"
    _compile(models[4], om)
    out = tmp_path / "preds"
    res = ascend.ais_infer(ascend.AisInferJob(om, bins[0].parent, out, "run", 4, device=0))
    [argv] = standins("ais_bench")
    tmp_name = argv[argv.index("--output_dirname") + 1]
    assert argv == [sys.executable, "-m", "ais_bench", "--model", str(om), "--input", str(bins[0].parent),
                    "--output", str(out), "--output_dirname", tmp_name, "--outfmt", "BIN", "--batchsize", "4",
                    "--device", "0"]
    assert tmp_name.startswith("run.partial-")
    assert sorted(p.name for p in out.iterdir()) == ["run", "run_manifest.json", "run_summary.json"]
    ort_backend.infer_folder(models[4], bins[0].parent, tmp_path / "ort", "run", 4, progress=False)
    for f in sorted((tmp_path / "ort" / "run").iterdir()):
        assert np.array_equal(np.fromfile(out / "run" / f.name, np.int32), np.fromfile(f, np.int32)), f.name
    assert len(list((out / "run").iterdir())) == 7
    assert res["filesinfo"]["6"]["outfiles"] == [str(out / "run" / "c_0.bin")]
    assert json.loads((out / "run_summary.json").read_text())["backend"] == "ascend"


def test_ais_infer_killed_run_leaves_nothing_done(models, standins, tmp_path, monkeypatch):
    bins = tiny_onnx.make_bins(tmp_path / "bins", NAMES)
    om = tmp_path / "tiny_bs4.om"
    _compile(models[4], om)
    monkeypatch.setenv("STANDIN_AIS_CRASH_AFTER", "1")
    with pytest.raises(KitError, match="ais_bench failed"):
        ascend.ais_infer(ascend.AisInferJob(om, bins[0].parent, tmp_path / "preds", "run", 4))
    assert list((tmp_path / "preds").iterdir()) == []


def test_om_batch_mismatch_refused(models, standins, tmp_path):
    om = tmp_path / "tiny_bs4.om"
    _compile(models[4], om)
    with pytest.raises(KitError, match=r"tiny_bs4.om was compiled for batch size 4.*BS=1"):
        ascend.ais_perf(om, 1, loop=2)
    om.with_suffix(".json").unlink()
    with pytest.raises(KitError, match="tiny_bs4.json is missing"):
        ascend.ais_perf(om, 4, loop=2)


def test_ais_perf_cli(models, standins, tmp_path, root):
    om = tmp_path / "tiny_bs4.om"
    _compile(models[4], om)
    out = tmp_path / "perf.json"
    r = subprocess.run([sys.executable, str(root / "tools" / "ais_perf.py"), "--om", str(om), "--batch-size", "4",
                        "--device", "0", "--loop", "3", "--out-json", str(out)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert standins("ais_bench")[-1][3:] == ["--model", str(om), "--loop", "3", "--batchsize", "4", "--device", "0"]
    res = json.loads(out.read_text())
    assert res["throughput"] > 0 and res["latency_ms"]["mean"] > 0
    assert res["throughput"] == pytest.approx(4000 / res["npu_compute_time"]["mean"])


@pytest.mark.parametrize("line", [
    "[INFO] throughput (1000*batchsize/NPU_compute_time): 4.72",
    "[INFO] throughput 1000*batchsize(1)/NPU_compute_time.mean(211.86): 4.72",
    "[INFO] throughput 1000*batchsize.mean(1)/NPU_compute_time.mean(211.86): 4.72",
])
def test_parse_throughput_variants(line):
    text = "[INFO] warm up 1 done\n" + line + "\n[INFO] ------------------------------------------------------\n"
    assert summary.parse_throughput(text) == pytest.approx(4.72)


def test_parse_throughput_missing_and_stats():
    with pytest.raises(KitError, match="throughput"):
        summary.parse_throughput("[ERROR] acl open device 0 failed")
    s = summary.parse_compute_stats("[INFO] NPU_compute_time (ms): min = 1.5, max = 3.0, mean = 2.0, median = 2.0, "
                                    "percentile(99%) = 2.98")
    assert s == {"min": 1.5, "max": 3.0, "mean": 2.0, "median": 2.0, "percentile(99%)": 2.98}


def test_atc_compile_cli_extra_flags(models, standins, tmp_path, root):
    om = tmp_path / "cli.om"
    r = subprocess.run([sys.executable, str(root / "tools" / "atc_compile.py"), "--onnx", str(models[1]), "--output-om",
                        str(om), "--batch-size", "1", "--height", "16", "--width", "32", "--soc", "auto",
                        "--precision", "must_keep_origin_dtype", "--extra=--op_select_implmode=high_precision",
                        "--extra="], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    argv = standins("atc")[-1]
    assert argv[6:] == ["--soc_version=Ascend310P3", "--precision_mode=must_keep_origin_dtype", "--log=error",
                        "--op_select_implmode=high_precision"]
    bad = subprocess.run([sys.executable, str(root / "tools" / "atc_compile.py"), "--onnx", str(models[1]), "--output-om",
                          str(om), "--batch-size", "1", "--height", "16", "--width", "32", "--soc", "Ascend310P3"],
                         capture_output=True, text=True, env={**__import__("os").environ, "STANDIN_ATC_FAIL": "E10001: boom"})
    assert bad.returncode == 2 and "E10001: boom" in bad.stderr and "ATC start working now" in bad.stderr
