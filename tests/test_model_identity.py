"""Issue 19 case 2: a model file swapped behind make's back is never used, and a result names the weights
of the model that made it.

"Other weights" are the golden fixture with the classifier's bias shifted (made here, by hand), exported
by the kit's own `make onnx` / `make om` into a scratch tree; the swap is a plain file copy over a finished
run's model, as a user would do it. The sha256 prefixes the messages and tables must show are computed
here with hashlib, not by the kit.
"""
import hashlib
import re
import shutil
import subprocess

import numpy as np
import pytest

import pipeline_helpers as ph

OM = f"{ph.STEM}_{ph.SOC}_force_fp16.om"


def sha8(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()[:8]


def one_error(proc, *needles):
    assert proc.returncode != 0, proc.stdout[-2000:]
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    [line] = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
    for needle in needles:
        assert needle in line, (needle, line)
    return line


@pytest.fixture(scope="module")
def ref(tmp_path_factory):
    return ph.shared_ort(tmp_path_factory)


@pytest.fixture(scope="module")
def other(tmp_path_factory, ref):
    """Weights that differ from the golden ones, and the ORT graph the kit exports from them."""
    base = tmp_path_factory.mktemp("other_weights")
    with np.load(ph.ROOT / ph.GOLDEN_WEIGHTS) as npz:
        arrays = {k: np.array(npz[k]) for k in npz.files}
    arrays["decode_head.conv_seg.bias"] = arrays["decode_head.conv_seg.bias"] + np.linspace(0, 2, 19, dtype=np.float32)
    weights = base / "other_weights.npz"
    np.savez(weights, **arrays)
    arts = ph.seeded_tree(tmp_path_factory, base / "artifacts")
    ph.run_make(["onnx"], arts, ref["data"], ph.ort_vars(WEIGHTS=str(weights)))
    return {"weights": weights, "arts": arts, "onnx": arts / "onnx" / ph.ORT_ONNX}


def _swap(ref, other, tmp_path, with_sidecar):
    arts = ph.copy_tree(ref["artifacts"], tmp_path / "artifacts")
    target = arts / "onnx" / ph.ORT_ONNX
    assert sha8(target) != sha8(other["onnx"])  # really another model
    shutil.copy(other["onnx"], target)
    if with_sidecar:
        shutil.copy(other["onnx"].with_suffix(".json"), target.with_suffix(".json"))
    return arts, target


@pytest.mark.parametrize("goal", ["all", "perf"])
def test_swapped_onnx_is_refused_before_use(ref, other, tmp_path, goal):
    arts, target = _swap(ref, other, tmp_path, with_sidecar=False)
    report = ph.report_path(arts).read_bytes()
    proc = ph.run_make([goal], arts, ref["data"], ph.ort_vars(LOOP="1"), check=False)
    one_error(proc, f"error: {target} does not match its sidecar {target.with_suffix('.json').name}",
              f"sha256 {sha8(other['onnx'])}", f"recorded {sha8(ref['artifacts'] / 'onnx' / ph.ORT_ONNX)}",
              "make clean", "rebuilds it")
    assert not re.search(r"^mIoU ", proc.stdout, re.M)  # score's summary line: no mIoU from it
    assert not [p for p in arts.glob("perf/*.json") if not p.name.endswith(".provenance.json")]  # nor a perf result
    assert ph.report_path(arts).read_bytes() == report  # no number from the swapped model


def test_swapped_onnx_with_its_sidecar_is_refused_for_its_weights(ref, other, tmp_path):
    arts, target = _swap(ref, other, tmp_path, with_sidecar=True)
    golden = ph.ROOT / ph.GOLDEN_WEIGHTS
    proc = ph.run_make(["all"], arts, ref["data"], ph.ort_vars(), check=False)
    one_error(proc, f"error: {target} was made from WEIGHTS={other['weights']} (sha256 {sha8(other['weights'])})",
              f"this run has WEIGHTS={ph.GOLDEN_WEIGHTS} (sha256 {sha8(golden)})", "rebuilds it from these weights")
    assert not re.search(r"^mIoU ", proc.stdout, re.M)


def _tool(*args):
    return subprocess.run([ph.python(), *args], cwd=ph.ROOT, env=ph.clean_env({"PYTHONPATH": "tools"}),
                          capture_output=True, text=True)


def test_table_names_the_weights_of_the_model_that_made_the_predictions(ref, other, tmp_path):
    """Predictions made by hand with the swapped model (the CLI without --weights): the table names its
    weights, not the run's variables; with the run's WEIGHTS it refuses to table them."""
    arts, target = _swap(ref, other, tmp_path, with_sidecar=True)
    bins = arts / "bins" / f"{ph.H}x{ph.W}_float32_first{ph.N_IMAGES}"
    preds, report = arts / "preds", ph.report_path(arts)
    summary = preds / f"{ph.ORT_RUN}_summary.json"
    inferred = _tool("tools/infer_ort.py", "--model", str(target), "--input", str(bins), "--output", str(preds),
                     "--output-dirname", ph.ORT_RUN, "--batch-size", str(ph.BS), "--no-progress")
    assert inferred.returncode == 0, inferred.stderr
    labels = arts / f"labels/polygons_first{ph.N_IMAGES}"
    scored = _tool("tools/score.py", "--pred", str(summary), "--labels", str(labels),
                   "--label-dtype", "int32", "--out-json", str(report),
                   "--provenance", str(report.with_name(report.stem + ".provenance.json")))
    assert scored.returncode == 0, scored.stderr
    table = _tool("tools/results_table.py", "--report", str(report), "--summary", str(summary))
    assert table.returncode == 0, table.stderr
    row = next(r for r in table.stdout.splitlines() if r.startswith("| reduced test model"))
    assert row.split(" | ")[2] == f"other_weights.npz (sha256 {sha8(other['weights'])})"
    refused = _tool("tools/results_table.py", "--report", str(report), "--summary", str(summary),
                    "--weights", ph.GOLDEN_WEIGHTS)
    one_error(refused, f"was made from WEIGHTS={other['weights']}", f"this run has WEIGHTS={ph.GOLDEN_WEIGHTS}")


# ------------------------------------------------------------------------------ the .om, on the Ascend stand-ins
@pytest.fixture(scope="module")
def asc(tmp_path_factory):
    return ph.shared_ascend(tmp_path_factory)


@pytest.fixture(scope="module")
def other_om(tmp_path_factory, asc, other):
    """The .om the stand-in atc compiles from the other weights (through the kit's own `make om`)."""
    arts = ph.copy_tree(asc["artifacts"], tmp_path_factory.mktemp("other_om") / "artifacts")
    ph.run_make(["om"], arts, asc["data"], {**asc["vars"], "WEIGHTS": str(other["weights"])}, env=asc["env"])
    return arts / "om" / OM


@pytest.mark.parametrize("with_sidecar", [False, True], ids=["om", "om+sidecar"])
def test_swapped_om_is_refused_before_use(asc, other, other_om, tmp_path, with_sidecar):
    arts = ph.copy_tree(asc["artifacts"], tmp_path / "artifacts")
    target = arts / "om" / OM
    assert sha8(target) != sha8(other_om)
    shutil.copy(other_om, target)
    if with_sidecar:
        shutil.copy(other_om.with_suffix(".json"), target.with_suffix(".json"))
    report = ph.report_path(arts, ph.ASCEND_RUN).read_bytes()
    calls = len(asc["log"].read_text().splitlines())
    proc = ph.run_make(["all"], arts, asc["data"], asc["vars"], env=asc["env"], check=False)
    if with_sidecar:
        one_error(proc, f"error: {target} was made from WEIGHTS={other['weights']} (sha256 {sha8(other['weights'])})",
                  f"this run has WEIGHTS={ph.GOLDEN_WEIGHTS}")
    else:
        one_error(proc, f"error: {target} does not match its sidecar", f"sha256 {sha8(other_om)}", "make clean")
    assert ph.report_path(arts, ph.ASCEND_RUN).read_bytes() == report
    new_calls = ph.standin_calls(asc["log"], "ais_bench", first=calls)
    assert not [c for c in new_calls if "--model" in c]  # ais_bench never ran the swapped .om


def test_swapped_atc_onnx_is_refused_before_atc(asc, other_om, tmp_path):
    """The ONNX atc compiles (`_sim_atc.onnx`), replaced by the other weights' one: atc never sees it."""
    arts = ph.copy_tree(asc["artifacts"], tmp_path / "artifacts")
    name = f"{ph.STEM}_sim_atc.onnx"
    target, theirs = arts / "onnx" / name, other_om.parent.parent / "onnx" / name
    assert sha8(target) != sha8(theirs)
    shutil.copy(theirs, target)
    calls = len(asc["log"].read_text().splitlines())
    proc = ph.run_make(["all"], arts, asc["data"], asc["vars"], env=asc["env"], check=False)
    one_error(proc, f"error: {target} does not match its sidecar", f"sha256 {sha8(theirs)}", "make clean")
    compiles = [c for c in ph.standin_calls(asc["log"], "atc", first=calls) if any(a.startswith("--model=") for a in c)]
    assert not compiles
