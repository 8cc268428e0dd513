"""ORT perf tool: JSON fields and the ais_bench throughput definition (no timing assertions)."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent / "standins"))
import tiny_onnx  # noqa: E402

from semask.backends.ort import runtime as ort  # noqa: E402


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return tiny_onnx.make_model(tmp_path_factory.mktemp("m") / "tiny_bs4.onnx", 4)


def test_perf_zero_data(model):
    r = ort.run_perf(model, 4, loop=5, warmup=1)
    assert r["data"] == "zero" and r["e2e"] is None and len(r["compute_time_list"]) == 5
    assert set(r["latency_ms"]) == {"mean", "p50", "p90", "p99", "min", "max"}
    assert r["throughput"] == pytest.approx(4000 / r["latency_ms"]["mean"])


def test_perf_cli_real_data_with_e2e(model, tmp_path, root):
    bins = tiny_onnx.make_bins(tmp_path / "bins", [f"i{k}.bin" for k in range(6)])
    out = tmp_path / "perf" / "r.json"
    res = subprocess.run([sys.executable, str(root / "tools" / "perf.py"), "--model", str(model), "--batch-size", "4",
                          "--loop", "3", "--input", str(bins[0].parent), "--out-json", str(out)],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert any(ln.startswith("perf onnxruntime[CPUExecutionProvider] bs4: throughput ") for ln in res.stdout.splitlines())
    lines = res.stdout.splitlines()
    assert lines[0].startswith("[perf] start") and lines[-2].startswith("[perf] done in ")
    assert lines[1].startswith("perf estimate: one bs4 run took ") and "LOOP=3 timed runs (LOOP given)" in lines[1]
    r = json.loads(out.read_text())
    assert r["data"] == "real" and r["e2e"]["images"] == 6 and r["e2e"]["images_per_s"] > 0
    assert [p.name for p in out.parent.iterdir()] == ["r.json"]  # e2e scratch removed


def test_perf_loop_auto_fits_the_budget_with_a_floor_of_three(model):
    r = ort.run_perf(model, 4, loop=None, warmup=1, budget_seconds=0.0)
    assert r["loop"] == 3 and len(r["compute_time_list"]) == 3 and r["loop_chosen_by"] == "PERF_SECONDS=0"
