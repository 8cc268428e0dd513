"""Issue 19 case 5: failures of the host, not of the kit, are one line and never a traceback.

- a disk that fills while the report's panels are written (a real small tmpfs over reports/): the line
  names the panel and the free space, and the panels finished before it stay, byte for byte;
- a BS too large for the memory the step may use (a real address-space limit, RLIMIT_AS, set on the
  tool's process after its imports; the tool then runs unchanged): export, ORT inference and ORT perf
  each name BS and a smaller one;
- an ASCEND_SET_ENV script that exits non-zero: BACKEND=auto falls back to ONNX Runtime naming the
  script and its exit code; BACKEND=ascend is refused the same way.
"""
import re
import subprocess

import pytest

import pipeline_helpers as ph

PANELS = ph.LazyPath(lambda: f"reports/{ph.ORT_RUN}_panels")


@pytest.fixture(scope="module")
def ref(tmp_path_factory):
    return ph.shared_ort(tmp_path_factory)


def one_error(proc, *needles):
    assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr and "libpng" not in proc.stderr, proc.stderr[-3000:]
    [line] = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
    for needle in needles:
        assert needle in line, (needle, line)
    return line


# ------------------------------------------------------------------------------ disk full during the panels
tmpfs = ph.tmpfs


def test_disk_full_while_writing_panels_is_one_line_and_keeps_the_finished_panels(ref, tmp_path):
    arts = ph.copy_tree(ref["artifacts"], tmp_path / "artifacts", skip={"reports"})
    reference = sorted((ref["artifacts"] / PANELS).iterdir())
    assert len(reference) == 3 and all(p.stat().st_size > 150_000 for p in reference)
    # room for the provenance record and one panel (about 180 kB each), not for the second
    with tmpfs(arts / "reports", "300k"):
        proc = ph.run_make(["all"], arts, ref["data"], ph.ort_vars(), check=False)
        line = one_error(proc, f"no space left on the device writing {arts / PANELS / reference[1].name}",
                         "free there", "the files finished before it stay", "free some space")
        free = int(next(g for g in re.search(r"(?:\((\d+) bytes\)|; (\d+) bytes) free there", line).groups() if g))
        assert free < reference[1].stat().st_size
        kept = sorted((arts / PANELS).iterdir())
        assert [p.name for p in kept] == [reference[0].name]  # no temporary file left beside it
        assert kept[0].read_bytes() == reference[0].read_bytes()
        assert not ph.report_path(arts).exists()  # the report is not taken as done
    assert (arts / "preds" / f"{ph.ORT_RUN}_summary.json").is_file()  # the predictions stay


# ------------------------------------------------------------------------------ BS beyond the memory
# Runs a tool's own main after its heavy imports, with the address space capped a little above what the
# imports took: an allocation for one batch then fails as it would on a host with too little RAM.
CAPPED = r"""
import resource, runpy, sys
sys.path.insert(0, "tools")
import numpy, onnx, onnxruntime, torch  # noqa: F401
import semask.model.export, semask.model.ort_graph, semask.backends.ort.runtime, semask.core.manifest  # noqa: F401
headroom, script = int(sys.argv[1]), sys.argv[2]
size = next(int(l.split()[1]) * 1024 for l in open("/proc/self/status") if l.startswith("VmSize:"))
resource.setrlimit(resource.RLIMIT_AS, (size + headroom, size + headroom))
sys.argv = sys.argv[2:]
runpy.run_path(script, run_name="__main__")
"""


def capped(headroom_mb, *argv):
    return subprocess.run([ph.python(), "-c", CAPPED, str(headroom_mb * 1_000_000), *argv], cwd=ph.ROOT,
                          env=ph.clean_env({"PYTHONPATH": "tools"}), capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A tiny conv+argmax ONNX at 512x1024 for BS=8 and BS=64, and eight 6 MB input bins."""
    import sys

    sys.path.insert(0, str(ph.STANDINS))
    import tiny_onnx

    d = tmp_path_factory.mktemp("tiny_big")
    models = {bs: tiny_onnx.make_model(d / f"tiny_bs{bs}.onnx", bs, 512, 1024) for bs in (8, 64)}
    tiny_onnx.make_bins(d / "bins", [f"a_{i}.bin" for i in range(8)], 512, 1024)
    return {"models": models, "bins": d / "bins"}


def test_export_beyond_memory_is_one_line_naming_bs(tmp_path):
    out = tmp_path / "onnx" / "big.onnx"
    proc = capped(500, "tools/export_onnx.py", "--model", "reduced", "--weights", ph.GOLDEN_WEIGHTS, "--batch-size",
                  "16", "--height", "512", "--width", "1024", "--out", str(out))
    one_error(proc, "error: BS=16: the ONNX export", "ran out of memory", "use a smaller BS (e.g. BS=8)")
    assert not out.exists()


def test_ort_inference_beyond_memory_is_one_line_naming_bs(tiny, tmp_path):
    proc = capped(260, "tools/infer_ort.py", "--model", str(tiny["models"][8]), "--input", str(tiny["bins"]),
                  "--output", str(tmp_path / "preds"), "--output-dirname", "r", "--batch-size", "8", "--no-progress")
    one_error(proc, "error: BS=8: onnxruntime inference ran out of memory", "use a smaller BS (e.g. BS=4)")
    assert not (tmp_path / "preds" / "r_summary.json").exists()


def test_ort_perf_beyond_memory_is_one_line_naming_bs(tiny, tmp_path):
    out = tmp_path / "perf.json"
    proc = capped(200, "tools/perf.py", "--model", str(tiny["models"][64]), "--batch-size", "64", "--loop", "1",
                  "--out-json", str(out))
    one_error(proc, "error: BS=64: the onnxruntime perf run ran out of memory", "use a smaller BS (e.g. BS=32)")
    assert not out.exists()


# ------------------------------------------------------------------------------ a failing ASCEND_SET_ENV
def failing_set_env(folder):
    path = folder / "set_env.sh"
    path.write_text('echo "set_env: /usr/local/Ascend/driver is missing"\nexit 3\n')
    return path


def test_failing_set_env_falls_back_to_ort_with_auto(ref, tmp_path):
    script = failing_set_env(tmp_path)
    proc = ph.run_make(["preds"], tmp_path / "artifacts", ref["data"], {**ph.CONFIG, "BACKEND": "auto"},
                       env=ph.clean_env({"ASCEND_SET_ENV": str(script)}), flags=["-n"], check=False)
    assert proc.returncode == 0, proc.stderr
    assert "-m semask infer --plan" in proc.stdout and "-m semask build" not in proc.stdout  # ORT: no OM is built
    [why] = [ln for ln in proc.stderr.splitlines() if ln.startswith("BACKEND=auto")]
    assert why == (f"BACKEND=auto: ASCEND_SET_ENV={script} exited with code 3 when sourced (its last line: set_env: "
                   "/usr/local/Ascend/driver is missing), so CANN cannot be used; using ONNX Runtime (fix the script, "
                   "or pass BACKEND=ort)")


def test_failing_set_env_is_named_with_backend_ascend(ref, tmp_path):
    script = failing_set_env(tmp_path)
    arts = tmp_path / "artifacts"
    proc = ph.run_make(["all"], arts, ref["data"], {**ph.CONFIG, "BACKEND": "ascend"},
                       env=ph.clean_env({"ASCEND_SET_ENV": str(script)}), check=False)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    [line] = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
    assert line.startswith(f"error: BACKEND=ascend but ASCEND_SET_ENV={script} exited with code 3 when sourced")
    assert "or use BACKEND=ort" in line and not arts.exists()
