"""ONNX Runtime backend: ais_bench-compatible outputs and summary, resume, refusals."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent / "standins"))
import tiny_onnx  # noqa: E402

from semask.backends.ort import runtime as ort_backend  # noqa: E402
from semask.core.errors import KitError  # noqa: E402

NAMES = ["a_10.bin", "a_2.bin", "a_1.bin", "b_1.bin", "a_3.bin", "c.x.bin", "a_20.bin"]
SUMMARY_KEYS = ["filesinfo", "args", "NPU_compute_time", "H2D_latency", "D2H_latency", "throughput",
                "npu_compute_time_list", "pid"]
STAT_KEYS = ["min", "max", "mean", "median", "percentile(99%)", "count"]


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    d = tmp_path_factory.mktemp("models")
    return {bs: tiny_onnx.make_model(d / f"tiny_bs{bs}.onnx", bs) for bs in (1, 4)}


@pytest.fixture
def bins(tmp_path):
    return tiny_onnx.make_bins(tmp_path / "bins", NAMES)


def _run(models, bins, out, bs=4, **kw):
    return ort_backend.infer_folder(models[bs], bins[0].parent, out, "run", bs, argv=["x"], progress=False, **kw)


def test_seven_files_bs4_match_per_image_reference(models, bins, tmp_path):
    out = tmp_path / "out"
    (out / "run").mkdir(parents=True)
    (out / "run" / "old_run_0.bin").write_bytes(b"stale")
    s = _run(models, bins, out)
    produced = sorted(p.name for p in (out / "run").iterdir())
    assert produced == sorted(["a_1_0.bin", "a_2_0.bin", "a_3_0.bin", "a_10_0.bin", "a_20_0.bin", "b_1_0.bin", "c_0.bin"])
    for b in bins:
        got = np.fromfile(out / "run" / f"{b.name.split('.')[0]}_0.bin", dtype=np.int32)
        assert np.array_equal(got, tiny_onnx.reference_labels(models[1], b).ravel())
    assert list(s) == SUMMARY_KEYS + ["provider", "backend", "resumed_batches", "model_identity", "peak_rss_bytes"]
    on_disk = json.loads((out / "run_summary.json").read_text())
    assert list(on_disk["NPU_compute_time"]) == STAT_KEYS
    assert on_disk["NPU_compute_time"]["count"] == 2 and on_disk["H2D_latency"]["count"] == 0
    assert on_disk["provider"] == "CPUExecutionProvider"
    # natural order, padded slot (sid 7) absent, paths as ais_bench joins them
    assert list(on_disk["filesinfo"]) == [str(i) for i in range(7)]
    assert on_disk["filesinfo"]["0"]["infiles"][0].endswith("bins/a_1.bin")
    assert on_disk["filesinfo"]["3"]["infiles"][0].endswith("bins/a_10.bin")
    assert on_disk["filesinfo"]["4"]["infiles"][0].endswith("bins/a_20.bin")
    assert on_disk["filesinfo"]["6"]["outfiles"] == [str(out / "run" / "c_0.bin")]
    assert on_disk["throughput"] == pytest.approx(4000 / np.mean(on_disk["npu_compute_time_list"]))


def test_resume_skips_verified_batches(models, bins, tmp_path):
    out = tmp_path / "out"
    _run(models, bins, out)
    journal = out / ".run.journal.jsonl"
    lines = journal.read_text().splitlines()
    assert len(lines) == 3  # header + 2 batches
    # simulate a run killed after batch 0: no summary, no batch-1 record, one batch-1 output gone
    journal.write_text("\n".join(lines[:2]) + "\n")
    (out / "run_summary.json").unlink()
    (out / "run" / "a_20_0.bin").unlink()
    before = (out / "run" / "a_1_0.bin").stat().st_mtime_ns
    s = _run(models, bins, out)
    assert s["resumed_batches"] == 1
    assert (out / "run" / "a_1_0.bin").stat().st_mtime_ns == before
    assert (out / "run" / "a_20_0.bin").exists() and (out / "run_summary.json").exists()
    # a truncated output of a journaled batch is redone
    (out / "run" / "a_2_0.bin").write_bytes(b"12")
    s = _run(models, bins, out)
    assert s["resumed_batches"] == 1
    assert (out / "run" / "a_2_0.bin").stat().st_size == 16 * 32 * 4


def test_wrong_batch_size_refused(models, bins, tmp_path):
    with pytest.raises(KitError, match=r"tiny_bs4\.onnx.*BS=2"):
        ort_backend.infer_folder(models[4], bins[0].parent, tmp_path / "o", "run", 2, progress=False)


def test_wrong_size_bin_refused(models, bins, tmp_path):
    (bins[0].parent / "zz.bin").write_bytes(b"\0" * 100)
    with pytest.raises(KitError, match="zz.bin"):
        _run(models, bins, tmp_path / "o")
    assert not (tmp_path / "o" / "run_summary.json").exists()


def test_missing_provider_names_package(models):
    import onnxruntime as ort

    if "CANNExecutionProvider" in ort.get_available_providers():
        pytest.skip("onnxruntime-cann installed")
    with pytest.raises(KitError, match="ORT_PROVIDER=cann.*onnxruntime-cann"):
        ort_backend.make_session(models[1], "cann")


def test_cli_prints_ais_bench_summary(models, bins, tmp_path, root):
    r = subprocess.run([sys.executable, str(root / "tools" / "infer_ort.py"), "--model", str(models[1]),
                        "--input", str(bins[0].parent), "--output", str(tmp_path / "o"), "--output-dirname", "r1",
                        "--batch-size", "1", "--threads", "1"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "[INFO] -----------------Performance Summary------------------" in r.stdout
    assert "[INFO] NPU_compute_time (ms): min = " in r.stdout
    assert "[INFO] throughput 1000*batchsize.mean(1)/NPU_compute_time.mean(" in r.stdout
    # stdout is a pipe here: plain progress lines instead of a tqdm bar
    assert "infer onnxruntime[cpu] bs1 7/7 (100 %) " in r.stdout and "[infer] done in " in r.stdout
    s = json.loads((tmp_path / "o" / "r1_summary.json").read_text())
    assert s["args"][0].endswith("infer_ort.py") and len(s["filesinfo"]) == 7
    bad = subprocess.run([sys.executable, str(root / "tools" / "infer_ort.py"), "--model", str(models[1]),
                          "--input", str(bins[0].parent), "--output", str(tmp_path / "o"),
                          "--batch-size", "4"], capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stderr.startswith("error: ") and "tiny_bs1.onnx" in bad.stderr
