"""Issue 26 ("Trust, round three"): `make clean` deletes only what a record of the kit names, verify covers
every result, comparisons only against their like, checked booleans, and no traceback at parse time. Each
case runs the kit's own `make` (or its parse-time plan) on the synthetic data set with real ORT."""
import hashlib
import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

import pipeline_helpers as ph
from semask.core.tempname import temp_name
from semask.evaluate.published import RunFacts, reference_for
from semask.run import workspace


error_lines, listing = ph.error_lines, ph.listing


@pytest.fixture(scope="module")
def ref(tmp_path_factory):
    return ph.shared_ort(tmp_path_factory)




# ------------------------------------------------------------------------------ 1. clean knows its files by record
LOOK_ALIKES = {  # what a user may keep under ARTIFACTS that looks like the kit's (the cases)
    "onnx/mynotes.json": json.dumps({"kind": "my notes"}),
    "reports/.draft.1.tmp.md": "my draft\n",
    "onnx/.exp.onnx.v2/keep.txt": "an experiment\n",
    "bins/.x.bin.4242-ab_cd12.tmp.bin": "the old temp shape, no check\n",
}


def plant_zoo_model(onnx_dir: Path) -> None:
    """A model-zoo ONNX beside a JSON of its sha256 (what the kit's sidecars also hold)."""
    data = b"a model from a zoo"
    (onnx_dir / "zoo.onnx").write_bytes(data)
    (onnx_dir / "zoo.json").write_text(json.dumps({"sha256": hashlib.sha256(data).hexdigest(), "kind": "zoo"}))


def test_clean_keeps_look_alikes_and_names_them(ref, tmp_path):
    tree = ph.copy_tree(ref["artifacts"], tmp_path / "artifacts")
    for rel, text in LOOK_ALIKES.items():
        (tree / rel).parent.mkdir(parents=True, exist_ok=True)
        (tree / rel).write_text(text)
    plant_zoo_model(tree / "onnx")
    before = listing(tree)
    proc = ph.run_make(["clean"], tree, None, check=False)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    [line] = error_lines(proc)
    assert "holds 6 path(s) the kit did not make" in line and "nothing was deleted" in line, line
    for rel in ("bins/.x.bin.4242-ab_cd12.tmp.bin", "onnx/mynotes.json", "onnx/.exp.onnx.v2/", "onnx/zoo.onnx"):
        assert rel in line, (rel, line)
    assert listing(tree) == before
    for rel in [*LOOK_ALIKES, "onnx/zoo.onnx", "onnx/zoo.json"]:
        p = tree / rel
        shutil.rmtree(p.parent) if p.parent.name == ".exp.onnx.v2" else p.unlink()
    ph.run_make(["clean"], tree, None)  # the kit's own tree, every file named by its ledger: all of it goes
    assert not tree.exists()


def test_clean_deletes_nothing_of_a_copied_tree(ref, tmp_path):
    """Every folder and every name shape the kit uses, copied in by hand (so no record of the kit names the
    files): clean refuses and deletes none of them."""
    tree = tmp_path / "artifacts"
    workspace.mark(tree)  # a new ARTIFACTS the kit made, holding its marker only
    shutil.copytree(ref["artifacts"], tree, dirs_exist_ok=True,
                    ignore=lambda d, names: [n for n in names if n in {".records.jsonl", ".lock", ".writers",
                                                                       ".semask-artifacts"}])
    planted = [str(p.relative_to(tree)) for p in tree.rglob("*") if p.is_file() and p.parent != tree]
    assert len(planted) > 40
    before = listing(tree)
    proc = ph.run_make(["clean"], tree, None, check=False)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    [line] = error_lines(proc)
    assert "nothing was deleted" in line
    after = listing(tree)
    assert {k: after[k] for k in before} == before  # (clean adds the root's .lock, if anything)


def test_a_kit_temp_name_goes_a_look_alike_stays(ref, tmp_path):
    tree = ph.copy_tree(ref["artifacts"], tmp_path / "artifacts")
    kit = tree / "reports" / temp_name(".x.json.", ".tmp.json")
    kit.write_text("{")
    edited = tree / "reports" / (temp_name(".x.json.", ".tmp.json")[:-12] + "000000.tmp.json")
    edited.write_text("{")
    proc = ph.run_make(["clean"], tree, None, check=False)
    [line] = error_lines(proc)
    assert "holds 1 path(s)" in line and edited.name in line and kit.name not in line


# ------------------------------------------------------------------------------ 2. clean and the writers' lock
HOLD_WRITERS = ("import fcntl, os, sys, time; fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT); "
                "fcntl.flock(fd, fcntl.LOCK_SH); print('held', flush=True); time.sleep(60)")


def hold_writers(tree, lock=".writers", mode="LOCK_SH"):
    """A step a SIGKILLed make left running: it holds the writers' lock shared, as every writing step does
    (lock=".lock", mode="LOCK_EX": another make holding the run lock)."""
    proc = subprocess.Popen([ph.python(), "-c", HOLD_WRITERS.replace("LOCK_SH", mode), str(tree / lock)],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_clean_refuses_or_waits_while_a_step_still_writes(ref, tmp_path):
    tree = ph.copy_tree(ref["artifacts"], tmp_path / "artifacts")
    holder = hold_writers(tree)
    try:
        before = listing(tree)
        proc = ph.run_make(["clean"], tree, None, {"NOWAIT": "1"}, check=False)
        assert proc.returncode == 2 and "Traceback" not in proc.stderr
        [line] = error_lines(proc)
        assert "a step of an earlier make is still writing" in line and "nothing was deleted" in line, line
        assert listing(tree) == before
        waiting = subprocess.Popen(ph.make_cmd(["clean"], tree, None), cwd=ph.ROOT, env=ph.clean_env(),
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(3)
        assert waiting.poll() is None and tree.is_dir()  # still waiting for the step
    finally:
        holder.kill()
        holder.wait()
    out, err = waiting.communicate(timeout=120)
    assert waiting.returncode == 0, err
    assert "waiting for it to finish before cleaning" in err and not tree.exists()


def test_distclean_refuses_while_another_make_of_the_checkout_runs(tmp_path):
    sleeper = tmp_path / "sleep.mk"
    sleeper.write_text("all:\n\tsleep 60\n")
    other = subprocess.Popen(["make", "-f", str(sleeper)], stdout=subprocess.DEVNULL)
    plan = ph.ROOT / ".make" / f"plan.{other.pid}.json"  # what that make's plan would say
    plan.parent.mkdir(exist_ok=True)
    plan.write_text(json.dumps({"values": {"ARTIFACTS": str(tmp_path / "other")}}))
    try:
        proc = ph.run_make(["distclean"], None, None, flags=["-n"], check=False)
    finally:
        other.kill()
        other.wait()
        plan.unlink()
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    [line] = error_lines(proc)
    assert f"pid {other.pid} on ARTIFACTS={tmp_path / 'other'}" in line and "nothing was run" in line, line
    assert "rm -rf" not in proc.stdout


# ------------------------------------------------------------------------------ 6. no traceback at parse time
NEUTRAL = "*** nothing was run (the error above says why)"
BLAME = "*** the make variables above need fixing"


def refused(proc, *needles, blame=False):
    """One `error:` line holding every needle, no traceback, and make's last line blaming the variables only
    when one of them is wrong."""
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    [line] = error_lines(proc)
    for needle in needles:
        assert needle in line, (needle, line)
    assert (BLAME in proc.stderr) == blame and (NEUTRAL in proc.stderr) == (not blame), proc.stderr[-500:]
    return line


@pytest.mark.parametrize("cpuinfo", ["missing", "folder"])
def test_cpuinfo_missing_or_a_folder_is_one_line(tmp_path, cpuinfo):
    path = tmp_path / "cpuinfo"
    if cpuinfo == "folder":
        path.mkdir()
    proc = ph.run_make(["all"], tmp_path / "a", tmp_path, {"BACKEND": "openvino", "PRECISION": "bf16",
                                                          "CPUINFO": str(path)}, flags=["-n"], check=False)
    refused(proc, f"CPUINFO={path} cannot be read", blame=True)


def test_another_make_running_does_not_blame_the_variables(ref, tmp_path):
    tree = ph.copy_tree(ref["artifacts"], tmp_path / "artifacts")
    holder = hold_writers(tree, ".lock", "LOCK_EX")
    try:
        proc = ph.run_make(["all"], tree, ref["data"], ph.ort_vars(NOWAIT="1"), check=False)
    finally:
        holder.kill()
        holder.wait()
    refused(proc, "is running on ARTIFACTS=")


def test_full_disk_at_parse_time_is_one_line(ref, tmp_path):
    with ph.tmpfs(tmp_path / "small", "1m") as fs:
        arts = fs / "artifacts"
        workspace.mark(arts)
        filler = fs / "filler"
        fd = os.open(filler, os.O_WRONLY | os.O_CREAT)  # fill the disk (outside ARTIFACTS)
        try:
            while os.write(fd, b"\0" * 4096):
                pass
        except OSError:
            pass
        finally:
            os.close(fd)
        proc = ph.run_make(["all"], arts, ref["data"], ph.ort_vars(), check=False)
        refused(proc, "no space left on the device writing", "nothing was run")


def test_read_only_artifacts_says_so(ref, tmp_path):
    with ph.tmpfs(tmp_path / "ro", "1m") as fs:
        (fs / "artifacts").mkdir()
        if subprocess.run(["mount", "-o", "remount,ro", str(fs)], capture_output=True).returncode:
            pytest.skip("cannot remount read-only here")
        proc = ph.run_make(["all"], fs / "artifacts", ref["data"], ph.ort_vars(), check=False)
        refused(proc, "is on a read-only file system", "writable disk")


# ------------------------------------------------------------------------------ 5. booleans, smoke banner, test weights
@pytest.mark.parametrize("name", ["SMOKE", "NOWAIT", "FORCE", "ACCURACY_EACH_BS"])
def test_a_boolean_takes_one_or_zero(tmp_path, name):
    proc = ph.run_make(["all"], tmp_path / "a", tmp_path, {name: "yes"}, flags=["-n"], check=False)
    refused(proc, f"{name}=yes is not one of: 1 0; empty means 0; use {name}=1 to turn it on", blame=True)


def test_nowait_zero_waits(ref, tmp_path):
    tree = ph.copy_tree(ref["artifacts"], tmp_path / "artifacts")
    holder = hold_writers(tree, ".lock", "LOCK_EX")
    waiting = subprocess.Popen(ph.make_cmd(["all"], tree, ref["data"], ph.ort_vars(NOWAIT="0")), cwd=ph.ROOT,
                               env=ph.clean_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(3)
        assert waiting.poll() is None  # NOWAIT=0 is "do not refuse": it waits
    finally:
        holder.kill()
        holder.wait()
    out, err = waiting.communicate(timeout=300)
    assert waiting.returncode == 0 and "waiting for it to finish" in err, err[-2000:]


def test_smoke_banner_comes_from_the_facts_and_test_weights_are_named(tmp_path_factory, tmp_path):
    """SMOKE=1 on a data set without the synthetic marker: no smoke banner; the fixture weights are named."""
    data = ph.make_dataset(tmp_path / "data" / "cityscapes")
    (data / "SYNTHETIC_DATA_BY_SEMASK_KIT.json").unlink()  # as a real data set: no generator's marker
    arts = ph.seeded_tree(tmp_path_factory, tmp_path / "artifacts")
    ph.run_make(["all"], arts, data, ph.ort_vars(SMOKE="1"))
    table = (ph.report_path(arts, data=data).with_suffix(".table.md")).read_text()
    assert "SMOKE RUN" not in table and "SYNTHETIC DATA" not in table
    assert "**kit test weights** (weights_reduced.npz: the kit's fixed test weights, not trained" in table
    assert "WARNING: untrained weights (random, or the kit's fixed test weights)" in table


# ------------------------------------------------------------------------------ 8. small ones
def test_bs_with_a_leading_zero_is_read_as_its_value(tmp_path):
    proc = ph.run_make(["all"], tmp_path / "a", layout_only(tmp_path / "data"), {"MODEL": "reduced", "WEIGHTS": "random",
                                                                              "BS": "04"},
                       flags=["-n"])
    plan = json.loads((ph.ROOT / re.search(r"--plan (\S+)", proc.stdout).group(1)).read_text())  # the run's plan
    assert plan["values"]["BS"] == "4" and "bs04" not in json.dumps(plan)


def test_bf16_on_ort_points_to_openvino(tmp_path):
    proc = ph.run_make(["all"], tmp_path / "a", tmp_path, {"PRECISION": "bf16"}, flags=["-n"], check=False)
    refused(proc, "PRECISION=bf16 is not one of", "use BACKEND=openvino PRECISION=bf16", blame=True)


@pytest.mark.parametrize("typo, meant", [("al", "all"), ("reproduse", "reproduce"), ("tabel", "table")])
def test_a_verb_typo_gets_did_you_mean(typo, meant):
    proc = ph.run_make([typo], None, None, check=False)
    refused(proc, f"unknown goal '{typo}' (did you mean `make {meant}`?)")
    assert "No rule to make target" not in proc.stderr


def test_bs_list_twice_runs_once(tmp_path):
    proc = ph.run_make(["reproduce"], tmp_path / "a", layout_only(tmp_path / "data"), {"MODEL": "reduced", "WEIGHTS": "random",
                                                                "BS_LIST": "2 2 02", "BACKEND": "ort"},
                       flags=["-n"])
    assert "note: BS_LIST names an entry twice; each runs once: BS_LIST=2" in proc.stderr
    assert re.search(r"BS_LIST=2\b", proc.stderr) and "BS_LIST=2 2" not in proc.stderr


def test_no_git_on_path_is_a_warning(tmp_path):
    env = ph.clean_env({"PATH": str(tmp_path)})  # no git (nor anything else) on PATH
    proc = subprocess.run([ph.python(), "-c", "from semask.run import provenance; print(provenance.git_state())"],
                          cwd=ph.ROOT, env=env, capture_output=True, text=True)
    assert proc.returncode == 0 and "{'commit': None, 'dirty': None}" in proc.stdout
    assert "warning: git is not on PATH, so this result's provenance records commit: null" in proc.stderr


# ------------------------------------------------------------------------------ 3. verify covers every result
def edit_keeping_mtime(path: Path, edit) -> None:
    st = path.stat()
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data, indent=2) + "\n")
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def test_an_edited_report_is_caught_by_verify_and_table(ref, tmp_path):
    tree = ph.copy_tree(ref["artifacts"], tmp_path / "artifacts")
    report = ph.report_path(tree)
    edit_keeping_mtime(report, lambda r: r.update(mIoU=0.99))
    proc = ph.run_make(["table"], tree, None, check=False)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr and "0.99" not in proc.stdout + proc.stderr
    [line] = [ln for ln in proc.stderr.splitlines() if ln.startswith(("changed:", "error:"))]
    assert line.startswith(f"changed: {report} has ") and "the kit wrote" in line, line
    assert "the report result is not shown" in line, line
    proc = ph.run_make(["verify"], tree, None, check=False)
    assert proc.returncode != 0
    assert f"changed: {report} has " in proc.stdout and "the kit's ledger" in proc.stdout, proc.stdout


def test_an_edited_perf_json_is_caught_by_make_perf(ref, tmp_path):
    tree = ph.copy_tree(ref["artifacts"], tmp_path / "artifacts")
    variables = ph.ort_vars(LOOP="2", PERF_SECONDS="1")
    ph.run_make(["perf"], tree, ref["data"], variables)
    [perf] = [p for p in (tree / "perf").glob("*.json") if not p.name.endswith(".provenance.json")]
    edit_keeping_mtime(perf, lambda r: r.update(throughput=999.0))
    proc = ph.run_make(["perf"], tree, ref["data"], variables, check=False)
    assert proc.returncode != 0 and "999" not in proc.stdout and "Traceback" not in proc.stderr
    [line] = [ln for ln in proc.stderr.splitlines() if ln.startswith(("changed:", "error:"))]
    assert line.startswith(f"changed: {perf} has ") and "the kit wrote" in line, line
    assert "the perf result is not shown" in line, line
    proc = ph.run_make(["verify"], tree, None, check=False)
    assert f"changed: {perf} has " in proc.stdout and "the kit's ledger" in proc.stdout, proc.stdout


# ------------------------------------------------------------------------------ 4. a comparison only against its like
def test_published_delta_only_for_a_like():
    """The published rows (ModelZoo 310P3 force_fp16: 76.54 mIoU, 4.37 fps at BS 4; upstream fp32 77.13)."""
    like = RunFacts(model="small", height=1024, width=2048, full_val=True, official_weights=True,
                    precision="force_fp16", batch_size=4, chip="Ascend310P3")
    ref = reference_for(like)
    assert (ref.miou_row.miou, ref.fps_row.fps, ref.miou_comparable, ref.fps_comparable, ref.why_not) == (
        76.54, 4.37, True, True, "")
    fp32_cpu = reference_for(RunFacts("small", 1024, 2048, True, True, "fp32", 4, ""))
    assert fp32_cpu.miou_row.miou == 77.13 and fp32_cpu.miou_comparable and not fp32_cpu.fps_comparable
    assert "chip ?" in fp32_cpu.why_not
    for change, needle in ((dict(model="reduced"), "model reduced"), (dict(height=96, width=160), "input 96x160"),
                           (dict(full_val=False), "not the full Cityscapes val"),
                           (dict(official_weights=False), "weights not official"),
                           (dict(precision="allow_mix_precision"), "precision allow_mix_precision")):
        ref = reference_for(RunFacts(**{**vars(like), **change}))
        assert not ref.miou_comparable and not ref.fps_comparable and needle in ref.why_not, (change, ref)
        assert ref.miou_row is not None and ref.fps_row.fps == 4.37  # the figures stay as reference


# ------------------------------------------------------------------------------ 7. early and precise
def layout_only(root: Path) -> Path:
    """A DATA_ROOT with the Cityscapes folders and no frames (enough for the parse-time checks)."""
    for sub in ("leftImg8bit/val", "gtFine/val"):
        (root / sub).mkdir(parents=True)
    return root


@pytest.mark.parametrize("case", ["missing", "no_gtfine"])
def test_data_root_layout_is_checked_at_parse_time(tmp_path, case):
    data = tmp_path / "cs"
    if case == "no_gtfine":
        (data / "leftImg8bit" / "val").mkdir(parents=True)
    link = tmp_path / "link"
    link.symlink_to(data, target_is_directory=True)
    proc = ph.run_make(["all"], tmp_path / "a", link, ph.ort_vars(), check=False)
    what = "does not exist" if case == "missing" else "has no gtFine/val"
    refused(proc, f"DATA_ROOT={link} (resolved: {data}) {what}", "CITYSCAPES_USERNAME", blame=True)
    assert not (tmp_path / "a" / "env").exists()  # nothing ran


def test_an_odd_first_frame_is_the_one_named(ref, tmp_path, tmp_path_factory):
    import cv2

    data = ph.make_dataset(tmp_path / "data", seed=5)
    first = sorted((data / "leftImg8bit" / "val").rglob("*_leftImg8bit.png"))[0]
    cv2.imwrite(str(first), cv2.resize(cv2.imread(str(first)), (64, 32)))
    arts = ph.seeded_tree(tmp_path_factory, tmp_path / "artifacts")
    proc = ph.run_make(["all"], arts, data, ph.ort_vars(), check=False)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    [line] = error_lines(proc)
    assert f"{first}: image is 32x64, expected 64x128" in line and line.count("expected 64x128") == 1, line


def test_an_input_size_the_frames_cannot_make_is_refused_before_the_export(ref, tmp_path):
    proc = ph.run_make(["all"], tmp_path / "a", ref["data"], ph.ort_vars(HEIGHT="60", WIDTH="140"), check=False)
    refused(proc, "HEIGHT=60 WIDTH=140 cannot be made from the data set's 64x128 frames", "gives 60x120",
            "nothing was exported", blame=True)
    assert proc.stderr.count("cannot be made from") == 1  # once, not per frame
    assert "semask export" not in proc.stdout and not (tmp_path / "a" / "onnx").exists()  # before the export


def test_bs_beyond_the_hosts_ram_is_refused_naming_the_largest_that_fits(tmp_path):
    """SeMask-S at 1024x2048 on a 5.12 GB host: the lines through the measured peaks (env/ram_measured.json: export
    3.45, 5.03, 12.46 GB and perf 13.0 GB at BS 8) give BS=2 about 4.86 GB (fits) and BS=3 about 6.13 GB (does not)."""
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:        5000000 kB\nMemFree:         1000 kB\n")
    env = ph.clean_env({"SEMASK_TEST_MEMINFO": str(meminfo)})
    proc = ph.run_make(["all"], tmp_path / "a", layout_only(tmp_path / "data"),
                       {"BS": "8", "WEIGHTS": "random", "BACKEND": "ort"}, env=env, flags=["-n"], check=False)
    refused(proc, "BS=8 needs about 13.0 GB of RAM", "this host has 5.1 GB", "the largest BS that fits is 2",
            blame=True)


def test_an_index_buffer_out_of_range_is_one_line(ref, tmp_path):
    import numpy as np

    state = dict(np.load(ph.ROOT / ph.GOLDEN_WEIGHTS))
    key = "backbone.layers.0.blocks.0.attn.relative_position_index"
    state[key] = state[key].copy()
    state[key][0, 0] = 5000  # the table has 169 rows
    bad = tmp_path / "bad.npz"
    np.savez(bad, **state)
    proc = ph.run_make(["onnx"], tmp_path / "a", ref["data"], ph.ort_vars(WEIGHTS=str(bad)), check=False)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr and "IndexError" not in proc.stderr
    [line] = error_lines(proc)
    assert f"WEIGHTS file {bad}: the index buffer '{key}' holds values from 0 to 5000, outside its table's 0..168" in line
