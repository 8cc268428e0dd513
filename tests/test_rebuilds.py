"""What `make` rebuilds: nothing after a complete `make all`; export -> infer -> score (never preprocess or
labels) when BS, the model code or WEIGHTS change; preprocess + labels when DATA_ROOT changes; and
`make clean` removes ARTIFACTS only. "What if" questions use `make -n` (and `-W FILE`, which changes
nothing on disk) on private copies of the shared run's tree, because the WEIGHTS/DATA_ROOT stamps are
rewritten at parse time even under -n."""
import json
import os
import re
import shutil
import subprocess

import numpy as np
import pytest

import pipeline_helpers as ph

STEPS = ("export", "simplify", "preprocess", "labels", "infer", "record_provenance", "score", "table", "check_env")


def steps(make_output: str) -> list[str]:
    """The kit steps a (dry-run) make output would execute, in order (`python -m semask <step> --plan ...`)."""
    names = {"export": ["export"], "export-ort": ["export"], "simplify": ["simplify"], "simplify-ort": ["simplify"],
             "bins": ["preprocess"], "labels": ["labels"], "infer": ["infer"], "env": ["check_env"],
             "report": ["record_provenance", "score", "table"]}
    found = []
    for line in make_output.splitlines():
        m = re.search(r"-m semask ([\w-]+) --plan", line)
        if m:
            found += names.get(m.group(1), [m.group(1)])
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
    assert planned == ["export", "simplify", "infer", "record_provenance", "score", "table"]
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
    assert planned == ["export", "simplify", "infer", "record_provenance", "score", "table"]
    for code in ("tools/semask/model/checkpoint.py", "tools/semask/model/export.py", "tools/semask/model/onnx_steps.py"):
        assert dry(tree, shared["data"], flags=["-W", code])[0][:2] == ["export", "simplify"], code
    assert ph.mtimes(tree) == before  # -W -n changes nothing


@pytest.mark.parametrize("code,first", [("tools/semask/data/bins.py", "preprocess"), ("tools/semask/data/labels.py", "labels"),
                                        ("tools/semask/evaluate/scoring.py", "record_provenance")])
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


def test_other_weights_rebuild_from_export(shared, tree):
    planned, proc = dry(tree, shared["data"], WEIGHTS="random")
    assert planned == ["export", "simplify", "infer", "record_provenance", "score", "table"]
    assert "--weights" not in proc.stdout  # the steps read WEIGHTS from the run's plan


def test_same_weights_under_another_path_are_the_same_run(shared, tree, tmp_path):
    """A run's identity is the weights' content: a copy elsewhere (old mtime) finds the finished run."""
    weights = tmp_path / "golden_copy.npz"
    shutil.copy2(ph.ROOT / ph.GOLDEN_WEIGHTS, weights)
    planned, _ = dry(tree, shared["data"], WEIGHTS=str(weights))
    assert planned == []


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


# ------------------------------------------------------------------------------ issue 11: content identity
def test_replaced_image_under_symlinked_val_folders_is_noticed(shared, tmp_path):
    """Case 1: shared storage often links leftImg8bit/val or the city folders; the DATA_ROOT stamp follows them."""
    store = tmp_path / "store"
    shutil.copytree(shared["data"], store)
    data = tmp_path / "linked"
    for top in ("leftImg8bit", "gtFine"):
        (data / top).mkdir(parents=True)
        (data / top / "val").symlink_to(store / top / "val", target_is_directory=True)
    tree = ph.copy_tree(shared["artifacts"], tmp_path / "artifacts")
    ph.run_make(["all"], tree, data, ph.ort_vars())  # this DATA_ROOT's own artifacts (its name is in theirs)
    assert dry(tree, data)[0] == []
    img = next((store / "leftImg8bit" / "val" / "lindau").iterdir())
    img.write_bytes(img.read_bytes())
    planned, _ = dry(tree, data)
    assert {"preprocess", "labels"} <= set(planned) and "export" not in planned


def test_weights_replaced_in_place_with_an_older_mtime_rebuilds(shared, tmp_path):
    """Case 1: `cp -p`, `rsync -a` or unzip put new weights under the old name with an old mtime."""
    weights = tmp_path / "w.npz"
    shutil.copy2(ph.ROOT / ph.GOLDEN_WEIGHTS, weights)
    tree = ph.copy_tree(shared["artifacts"], tmp_path / "artifacts")
    ph.run_make(["all"], tree, shared["data"], ph.ort_vars(WEIGHTS=str(weights)), flags=["-t"])
    assert dry(tree, shared["data"], WEIGHTS=str(weights))[0] == []
    other = tmp_path / "other.npz"
    with np.load(weights) as npz:
        arrays = {k: np.array(npz[k]) for k in npz.files}
    key = sorted(k for k in arrays if arrays[k].dtype.kind == "f")[0]
    arrays[key] = arrays[key] * np.float32(0.5)
    np.savez(other, **arrays)
    old = weights.stat().st_mtime_ns - 10**12
    os.utime(other, ns=(old, old))
    subprocess.run(["cp", "-p", str(other), str(weights)], check=True)
    assert weights.stat().st_mtime_ns == old
    planned, _ = dry(tree, shared["data"], WEIGHTS=str(weights))
    assert planned[:2] == ["export", "simplify"]


# ------------------------------------------------------------------------------ issue 11: resume, never stuck
RUN_DIR = ph.LazyPath(lambda: f"preds/{ph.ORT_RUN}")


def _flip_first_value(path, keep_mtime):
    st = path.stat()
    data = bytearray(path.read_bytes())
    data[0] = (data[0] + 1) % 19
    path.write_bytes(bytes(data))
    if keep_mtime:  # like `cp -p` of an edited copy: make cannot see it, the consumer must
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


@pytest.mark.parametrize("damage", ["deleted", "edited"])
def test_missing_or_edited_prediction_redoes_exactly_its_batch(shared, tree, damage):
    """Case 2: the next `make all` redoes the affected batch only (resume) and gives the reference again."""
    victim = sorted((tree / RUN_DIR).glob("*.bin"))[-1]  # in the second (last) batch
    if damage == "deleted":
        victim.unlink()
    else:
        _flip_first_value(victim, keep_mtime=False)
    proc = ph.run_make(["all"], tree, shared["data"], ph.ort_vars())
    assert f"{victim}" in proc.stderr and "redoing the preds step" in proc.stderr
    assert "resuming: 1 of 2 batches already done and verified" in proc.stdout
    assert ph.pred_files(tree) == ph.pred_files(shared["artifacts"])
    assert ph.read_json(ph.report_path(tree))["mIoU"] == shared["report"]["mIoU"]
    assert ph.run_make(["all"], tree, shared["data"], ph.ort_vars()).stdout.strip() == "make: Nothing to be done for 'all'."


def test_prediction_edited_behind_makes_back_is_refused_then_redone(shared, tree):
    """Case 2: an edit that keeps the old mtime is caught by scoring (sha256), and the fix it names works."""
    ph.report_path(tree).unlink()
    victim = sorted((tree / RUN_DIR).glob("*.bin"))[1]
    _flip_first_value(victim, keep_mtime=True)
    bad = ph.run_make(["all"], tree, shared["data"], ph.ort_vars(), check=False)
    assert bad.returncode != 0
    [line] = [ln for ln in bad.stderr.splitlines() if ln.startswith("error:")]
    assert str(victim) in line and "rm <file>" in line and not ph.report_path(tree).exists()
    victim.unlink()
    ph.run_make(["all"], tree, shared["data"], ph.ort_vars())
    assert ph.read_json(ph.report_path(tree))["mIoU"] == shared["report"]["mIoU"]
    assert ph.pred_files(tree) == ph.pred_files(shared["artifacts"])


def test_empty_labels_json_is_redone_not_stuck(shared, tree):
    """Case 3: a 0-byte labels.json (what `touch` made after a race) is rebuilt by the next `make all`."""
    labels = tree / f"labels/{ph.LABELS_NAME}/labels.json"
    reference = labels.read_text()
    labels.write_text("")
    ph.run_make(["all"], tree, shared["data"], ph.ort_vars())
    assert labels.read_text() == reference
    assert ph.read_json(ph.report_path(tree))["mIoU"] == shared["report"]["mIoU"]


# ------------------------------------------------------------------------------ issue 11: clean never deletes data
def test_clean_refuses_an_artifacts_folder_holding_a_dataset(shared, tmp_path):
    """Case 4: a dataset placed under ARTIFACTS survives `make clean`, with or without DATA_ROOT given."""
    tree = ph.copy_tree(shared["artifacts"], tmp_path / "artifacts")
    data = tree / "cityscapes"
    shutil.copytree(shared["data"], data)
    before = ph.mtimes(data)
    for root in (data, None):
        proc = ph.run_make(["clean"], tree, root, check=False)
        assert proc.returncode != 0
        [line] = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
        assert f"ARTIFACTS={tree}" in line and ("DATA_ROOT" in line or "cityscapes" in line), line
    assert ph.mtimes(data) == before


@pytest.mark.parametrize("where", ["checkout", "home", "unmarked"])
def test_clean_refuses_what_the_kit_did_not_make(tmp_path, where):
    home = tmp_path / "home"
    (home / "notes").mkdir(parents=True)
    target = {"checkout": ph.ROOT, "home": home, "unmarked": home / "notes"}[where]
    plan = ph.run_make(["clean"], target, None, flags=["-n"], env=ph.clean_env({"HOME": str(home)}))
    assert "rm -rf" not in plan.stdout
    if where != "checkout":  # the checkout itself is only ever asked about with -n
        proc = ph.run_make(["clean"], target, None, env=ph.clean_env({"HOME": str(home)}), check=False)
        assert proc.returncode != 0 and "error: ARTIFACTS=" in proc.stderr and (home / "notes").is_dir()
    from semask.run.workspace import Refused, check_clean

    with pytest.raises(Refused, match="the checkout or contains it"):
        check_clean(tmp_path, [], tmp_path / "fake checkout")


def test_data_root_inside_artifacts_is_refused_at_parse_time(shared, tmp_path):
    arts = tmp_path / "artifacts"
    data = arts / "cityscapes"
    shutil.copytree(shared["data"], data)
    proc = ph.run_make(["all"], arts, data, ph.ort_vars(), check=False)
    assert proc.returncode == 2 and proc.stdout == ""
    [line] = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
    assert f"DATA_ROOT={data} is inside ARTIFACTS={arts}" in line


def test_clean_keeps_provenance_clean(root):
    """Case 4: nothing under artifacts/ is tracked, so deleting it never makes a report say dirty."""
    tracked = subprocess.run(["git", "-C", str(root), "ls-files", "artifacts"], capture_output=True, text=True, check=True)
    assert tracked.stdout == ""
    ignored = subprocess.run(["git", "-C", str(root), "check-ignore", "-q", "artifacts/.semask-artifacts"])
    assert ignored.returncode == 0


def test_make_table_prints_the_last_run_again(shared, tree):
    """README: `make table` prints the table of the last run again, and changes nothing."""
    before = ph.mtimes(tree)
    proc = ph.run_make(["table"], tree, shared["data"], ph.ort_vars())
    assert f"| {shared['report']['mIoU']:.2f} |" in proc.stdout and str(ph.report_path(tree)) in proc.stdout
    assert ph.mtimes(tree) == before
