"""Issue 19, cases 1, 4, 7, 8 and 9: `make clean` deletes exactly what the kit made, ARTIFACTS is refused
at parse time when it is not a folder for the kit alone, a killed make cannot hand ARTIFACTS to a second
run while one of its steps still writes, `make verify` finds an edit whose mtime was put back, and the
demo's data set lives in data/. Every check runs the kit's `make` on its synthetic data with real ORT."""
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

import pipeline_helpers as ph
from semask.core.tempname import temp_name

PREDS = ph.LazyPath(lambda: f"preds/{ph.ORT_RUN}")
BINS = ph.LazyPath(lambda: f"bins/{ph.BINS_NAME}")


@pytest.fixture(scope="module")
def ref(tmp_path_factory):
    return ph.shared_ort(tmp_path_factory)


make_errors = ph.parse_errors
error_lines, listing = ph.error_lines, ph.listing




# ------------------------------------------------------------------------------ case 1: make clean
def test_clean_refuses_a_foreign_file_in_a_subfolder_and_deletes_nothing(ref, tmp_path):
    tree = ph.copy_tree(ref["artifacts"], tmp_path / "artifacts")
    (tree / "reports" / "mine").mkdir()
    (tree / "reports" / "mine" / "keep.txt").write_text("x\n")
    (tree / BINS / "extra.bin").write_bytes(b"not from preprocess")  # a name the bins manifest does not list
    (tree / "onnx" / "my_model.onnx").write_bytes(b"no sidecar")
    before = listing(tree)
    proc = ph.run_make(["clean"], tree, None, check=False)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    [line] = error_lines(proc)
    assert f"ARTIFACTS={tree} holds 3 path(s) the kit did not make" in line and "nothing was deleted" in line
    for rel in ("reports/mine/", f"{BINS}/extra.bin", "onnx/my_model.onnx"):
        assert rel in line, (rel, line)
    assert listing(tree) == before


def test_clean_names_five_foreign_paths_and_the_count(ref, tmp_path):
    tree = ph.copy_tree(ref["artifacts"], tmp_path / "artifacts")
    for i in range(7):
        (tree / "perf" if i % 2 else tree / "env").mkdir(exist_ok=True)
        ((tree / "perf" if i % 2 else tree / "env") / f"note{i}.txt").write_text("x")
    proc = ph.run_make(["clean"], tree, None, check=False)
    [line] = error_lines(proc)
    assert "holds 7 path(s)" in line and "(+2 more)" in line and len(re.findall(r"note\d\.txt", line)) == 5


def test_clean_removes_every_kit_file_left_by_interrupted_steps(ref, tmp_path):
    """What a killed run leaves (temp files, a torn journal, atc and ORT scratch folders) is the kit's."""
    tree = ph.copy_tree(ref["artifacts"], tmp_path / "artifacts")
    (tree / BINS / temp_name(".munster_000000_000033_leftImg8bit.bin.", ".tmp.bin")).write_bytes(b"part")
    (tree / ".state" / temp_name(".stamps.mk.", ".tmp")).write_text("x")
    scratch = tree / "onnx" / temp_name(f".{ph.ORT_ONNX}.")
    scratch.mkdir()
    (scratch / "scratch.onnx").write_bytes(b"x")
    (tree / "perf").mkdir()
    (tree / "perf" / temp_name(".perf-e2e-")).mkdir()
    (tree / "preds" / f".{ph.ORT_RUN}.journal.jsonl").write_text(  # the kit's header, then a torn last line
        '{"header": {}, "written_by": "semask-kit"}\n{"key": 9, "outf')
    ph.run_make(["clean"], tree, None)
    assert not tree.exists()


def test_clean_removes_an_ascend_tree(tmp_path_factory, tmp_path):
    tree = ph.copy_tree(ph.shared_ascend(tmp_path_factory)["artifacts"], tmp_path / "artifacts")
    (tree / "om" / temp_name(f".{ph.STEM}_{ph.SOC}_force_fp16.atc-")).mkdir()  # atc's work folder of a killed compile
    ph.run_make(["clean"], tree, None)
    assert not tree.exists()


def test_clean_through_a_symlinked_artifacts(ref, tmp_path):
    """Used to be a traceback ("Cannot call rmtree on a symbolic link"); now the link is resolved and the same
    rules apply: a foreign file refuses, otherwise the kit's files go and the folder and link stay."""
    tree = ph.copy_tree(ref["artifacts"], tmp_path / "store" / "artifacts")
    link = tmp_path / "artifacts"
    link.symlink_to(tree, target_is_directory=True)
    (tree / "reports" / "mine.txt").write_text("x")
    before = listing(tree)
    proc = ph.run_make(["clean"], link, None, check=False)
    [line] = error_lines(proc)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr and "reports/mine.txt" in line
    assert listing(tree) == before
    (tree / "reports" / "mine.txt").unlink()
    proc = ph.run_make(["clean"], link, None)
    assert "Traceback" not in proc.stderr
    assert link.is_symlink() and tree.is_dir() and list(tree.iterdir()) == []


@pytest.mark.parametrize("which", ["ARTIFACTS", "DATA_ROOT"])
def test_symlink_loops_are_one_line(ref, tmp_path, which):
    loop_a, loop_b = tmp_path / "loop_a", tmp_path / "loop_b"
    loop_a.symlink_to(loop_b)
    loop_b.symlink_to(loop_a)
    arts, data = (loop_a, ref["data"]) if which == "ARTIFACTS" else (tmp_path / "artifacts", loop_a)
    proc = ph.run_make(["all"], arts, data, ph.ort_vars(), check=False)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr and proc.stdout == ""
    [line] = make_errors(proc)
    assert f"{which}={loop_a} is a symlink loop" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["loop_a", "loop_b"]  # nothing written
    if which == "DATA_ROOT":  # clean checks DATA_ROOT only when there is something to clean
        arts = ph.copy_tree(ref["artifacts"], tmp_path / "artifacts")
    clean = ph.run_make(["clean"], arts, data, check=False)
    assert clean.returncode == 2 and "Traceback" not in clean.stderr
    [line] = error_lines(clean)
    assert f"{which}={loop_a} is a symlink loop" in line


# ------------------------------------------------------------------------------ case 4: ARTIFACTS refused
def test_artifacts_root_rules(tmp_path):
    """The parse-time rule itself (plan.py calls the same function), on the paths a make test cannot use
    without writing into them on a kit that lacks the rule."""
    from semask.run.workspace import Refused, check_artifacts_root

    home = tmp_path / "home"
    home.mkdir()
    for bad, says in ((ph.ROOT, "is the checkout"), (ph.ROOT.parent, "a folder that holds the checkout"),
                      (Path("/"), "is the root folder"), (home, "is your home folder"),
                      (ph.ROOT / "env", "inside the checkout but not under its artifacts/"),
                      (ph.ROOT / "tools" / "new", "inside the checkout but not under its artifacts/")):
        with pytest.raises(Refused, match=re.escape(says)):
            check_artifacts_root(bad, ph.ROOT, home)
    for good in (ph.ROOT / "artifacts", ph.ROOT / "artifacts" / "demo", tmp_path / "new" / "artifacts", home / "runs"):
        check_artifacts_root(good, ph.ROOT, home)


@pytest.mark.parametrize("where", ["home", "foreign_folder", "checkout_subfolder"])
def test_artifacts_is_refused_before_anything_is_written(ref, tmp_path, where):
    home = tmp_path / "home"
    (home / "documents").mkdir(parents=True)
    (home / "documents" / "letter.txt").write_text("dear kit\n")
    foreign = tmp_path / "photos"
    foreign.mkdir()
    (foreign / "cat.jpg").write_bytes(b"\xff\xd8")
    target = {"home": home, "foreign_folder": foreign, "checkout_subfolder": ph.ROOT / "env" / "i19-artifacts"}[where]
    says = {"home": "is your home folder", "foreign_folder": "is an existing folder the kit did not make",
            "checkout_subfolder": "is inside the checkout but not under its artifacts/"}[where]
    before = listing(tmp_path)
    try:
        proc = ph.run_make(["all"], target, ref["data"], ph.ort_vars(), flags=["-n"],
                           env=ph.clean_env({"HOME": str(home)}), check=False)
        assert proc.returncode == 2 and proc.stdout == ""
        [line] = make_errors(proc)
        assert f"ARTIFACTS={target} {says}" in line, line
        assert listing(tmp_path) == before and not (ph.ROOT / "env" / "i19-artifacts").exists()
    finally:
        shutil.rmtree(ph.ROOT / "env" / "i19-artifacts", ignore_errors=True)


# ------------------------------------------------------------------------------ case 7: killing make alone
def _pids_running(script: str, arts: Path) -> list[int]:
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:  # a step names its plan, not ARTIFACTS: make exports SEMASK_ARTIFACTS to it
            cmd = (proc / "cmdline").read_bytes().replace(b"\0", b" ")
            env = (proc / "environ").read_bytes().split(b"\0")
            state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z" and script.encode() in cmd and f"SEMASK_ARTIFACTS={arts}".encode() in env:
            pids.append(int(proc.name))
    return pids


def _wait_gone(pid: int, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            return
        if state == "Z":
            return
        time.sleep(0.05)
    raise AssertionError(f"process {pid} did not end")


def test_killing_make_alone_keeps_the_folder_locked_while_its_step_writes(ref, tmp_path):
    """SIGKILL to make alone used to release the lock while the infer step went on writing, and a second
    `make all` started at once. The step is stopped (SIGSTOP) while it writes, so the test does not race it."""
    arts = ph.copy_tree(ref["artifacts"], tmp_path / "artifacts", skip=("preds", "reports"))
    proc = ph.start_make(["all"], arts, ref["data"], ph.ort_vars(), log=tmp_path / "make.log")
    infer = []
    try:
        deadline = time.monotonic() + 300
        while not infer and time.monotonic() < deadline and proc.poll() is None:
            if (arts / PREDS).is_dir():  # inference has started writing (its run folder exists)
                infer = _pids_running("-m semask infer --plan", arts)
            time.sleep(0.002)
        stopped = False
        for pid in infer:
            try:
                os.kill(pid, signal.SIGSTOP)
                stopped = True
            except ProcessLookupError:
                pass
        os.kill(proc.pid, signal.SIGKILL)  # make alone, not its process group
        proc.wait()
        second = ph.run_make(["all"], arts, ref["data"], ph.ort_vars(NOWAIT="1"), check=False)
        if stopped:
            assert second.returncode == 2, second.stdout[-2000:] + second.stderr[-2000:]
            [line] = make_errors(second)
            assert f"a step of an earlier make is still writing in ARTIFACTS={arts}" in line
            assert not ph.report_path(arts).exists()
    finally:
        for pid in infer:
            try:
                os.kill(pid, signal.SIGCONT)
            except ProcessLookupError:
                pass
        for pid in infer:
            _wait_gone(pid)
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    # once the orphaned step has finished, the next run completes exactly like an uninterrupted one
    ph.run_make(["all"], arts, ref["data"], ph.ort_vars(NOWAIT="1"))
    assert ph.read_json(ph.report_path(arts))["mIoU"] == ref["report"]["mIoU"]
    assert ph.pred_files(arts) == ph.pred_files(ref["artifacts"])


def test_a_step_whose_make_is_gone_writes_nothing(ref, tmp_path):
    """The other half of the writer lock: a step started for a make that no longer holds ARTIFACTS stops."""
    arts = ph.copy_tree(ref["artifacts"], tmp_path / "artifacts")
    (arts / ".lock").write_text("1\n")  # the run lock names a make that is not this step's ancestor
    before = listing(arts)
    env = ph.clean_env({"SEMASK_ARTIFACTS": str(arts), "PYTHONPATH": "tools"})
    proc = subprocess.run([ph.python(), "tools/results_table.py", "--report", str(ph.report_path(arts)),
                           "--out", str(arts / "reports" / "again.table.md")], cwd=ph.ROOT, env=env,
                          capture_output=True, text=True)
    assert proc.returncode == 1 and proc.stdout == ""
    [line] = error_lines(proc)
    assert "the make that started this step is gone" in line
    before.pop(".writers", None)
    after = listing(arts)
    after.pop(".writers", None)
    assert after == before


# ------------------------------------------------------------------------------ case 8: make verify
def _edit_keeping_mtime(path: Path) -> None:
    stat = path.stat()
    data = bytearray(path.read_bytes())
    data[100] ^= 0x01
    path.write_bytes(bytes(data))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # `touch -r` back


def test_verify_finds_edits_with_restored_mtimes_and_make_all_redoes_them(ref, tmp_path):
    arts = ph.copy_tree(ref["artifacts"], tmp_path / "artifacts")
    clean = ph.run_make(["verify"], arts, None)
    assert "match their manifests, sidecars and the kit's ledger" in clean.stdout
    pred = arts / PREDS / "lindau_000000_000026_leftImg8bit_0.bin"
    binf = arts / BINS / "munster_000000_000033_leftImg8bit.bin"
    for path in (pred, binf):
        _edit_keeping_mtime(path)
    assert "Nothing to be done" in ph.run_make(["all"], arts, ref["data"], ph.ort_vars()).stdout  # make cannot see it
    tool = subprocess.run([ph.python(), "tools/verify_artifacts.py", "--artifacts", str(arts)], cwd=ph.ROOT,
                          env=ph.clean_env({"PYTHONPATH": "tools"}), capture_output=True, text=True)
    assert tool.returncode == 1
    changed = [ln for ln in tool.stdout.splitlines() if ln.startswith("changed: ")]
    assert len(changed) == 2 and str(pred) in tool.stdout and str(binf) in tool.stdout
    assert "2 of" in tool.stdout.splitlines()[-1]
    proc = ph.run_make(["verify"], arts, None, check=False)
    assert proc.returncode != 0 and str(pred) in proc.stdout and str(binf) in proc.stdout
    ph.run_make(["all"], arts, ref["data"], ph.ort_vars())
    report, reference = ph.read_json(ph.report_path(arts)), ref["report"]
    assert {k: report[k] for k in ("mIoU", "aAcc", "mAcc", "per_class")} == \
        {k: reference[k] for k in ("mIoU", "aAcc", "mAcc", "per_class")}
    assert ph.pred_files(arts) == ph.pred_files(ref["artifacts"])
    assert binf.read_bytes() == (ref["artifacts"] / BINS / binf.name).read_bytes()
    assert ph.run_make(["verify"], arts, None).returncode == 0


def test_verify_refuses_a_folder_the_kit_did_not_make(tmp_path):
    proc = ph.run_make(["verify"], tmp_path / "nowhere", None, check=False)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    [line] = error_lines(proc)
    assert f"ARTIFACTS={tmp_path / 'nowhere'} does not exist" in line


# ------------------------------------------------------------------------------ case 9: the demo's data in data/
def _make_variable(name: str) -> str:
    """A variable's value as the Makefile defines it (make's own database; nothing runs)."""
    proc = subprocess.run(["make", "-pn", "help"], cwd=ph.ROOT, env=ph.clean_env(), capture_output=True, text=True)
    [line] = [ln for ln in proc.stdout.splitlines() if re.match(rf"^{name} :?= ", ln)]
    return line.split("=", 1)[1].strip()


def test_demo_data_lives_in_data_and_distclean_removes_it():
    assert _make_variable("DEMO_DATA") == "data/demo/cityscapes"
    plan = subprocess.run(["make", "-n", "distclean", "ARTIFACTS=/nonexistent/artifacts"], cwd=ph.ROOT,
                          env=ph.clean_env(), capture_output=True, text=True)
    [rm] = [ln for ln in plan.stdout.splitlines() if ln.startswith("rm -rf")]
    assert "data/demo" in rm.split()


def test_demo_then_its_readme_commands_with_the_same_artifacts(ref, tmp_path_factory, tmp_path):
    """make demo; make all on its data set with the same ARTIFACTS (used to be refused: the data sat inside
    it); make clean removes the demo's outputs and keeps its data set."""
    arts = tmp_path / "artifacts"
    ph.seeded_tree(tmp_path_factory, arts / "demo")  # the export of the shared run: same model, size and BS
    demo_data = tmp_path / "data" / "demo" / "cityscapes"
    demo_vars = {"DEMO_MODEL": "reduced", "DEMO_WEIGHTS": ph.GOLDEN_WEIGHTS, "DEMO_HEIGHT": str(ph.H),
                 "DEMO_WIDTH": str(ph.W), "DEMO_IMAGES": "4", "BS": str(ph.BS), "DEMO_DATA": str(demo_data)}
    ph.run_make(["demo"], arts, None, demo_vars)
    assert (demo_data / f".complete-4-{ph.H}x{ph.W}").is_file()
    assert not list(arts.rglob("*_leftImg8bit.png"))  # no data set inside ARTIFACTS
    ph.run_make(["all"], arts, demo_data, ph.ort_vars(LIMIT="4"))
    data_before = listing(demo_data)
    ph.run_make(["clean"], arts, None)
    assert not arts.exists() and listing(demo_data) == data_before
