"""Shared helpers for the end-to-end `make` tests (test_pipeline_*, test_rebuilds, test_provenance,
test_interrupts, test_hostile_inputs).

Every `make` runs in a subprocess from the repository root with a CI-like clean environment (only a
system PATH, HOME and a UTF-8 locale: no PYTHONPATH, no MAKEFLAGS, no Ascend variables), with
`PYTHON` left at its default so the venv is used. The expensive runs (the synthetic data set, one
ORT `make all`, one Ascend `make all` through the stand-ins) are built once per pytest session and
memoised here; tests that mutate a tree work on a copy (`copy_tree`, which keeps mtimes so make sees
the copy as up to date).
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Iterable, Iterator, Mapping, Sequence

ROOT = Path(__file__).resolve().parents[1]
VENV_PY = ROOT / ".venv" / "bin" / "python"
STANDINS = ROOT / "tests" / "standins"
GOLDEN_WEIGHTS = "tests/fixtures/weights_reduced.npz"

H, W, N_IMAGES, BS = 64, 128, 7, 4
# The configuration every shared run uses (the last batch of 7 images at BS=4 is partial).
CONFIG = {"MODEL": "reduced", "WEIGHTS": GOLDEN_WEIGHTS, "HEIGHT": str(H), "WIDTH": str(W), "BS": str(BS),
          "LIMIT": str(N_IMAGES)}
# A run's identity in its names, transcribed from docs/LAYOUT.md: the weights' content ('w' + the first 8 hex
# of their sha256) and the dataset's folder ('d' + the first 8 hex of the sha256 of its resolved path).
WTAG = "w" + hashlib.sha256((ROOT / GOLDEN_WEIGHTS).read_bytes()).hexdigest()[:8]
STEM = f"semask_reduced_bs{BS}_{H}x{W}_float32_int32_{WTAG}"
ORT_ONNX = f"{STEM}_ort.onnx"  # the graph BACKEND=ort (CPU) builds and runs; the Ascend path uses {STEM}_sim.onnx
SOC = "Ascend310P3"
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
MAKE_TIMEOUT = 600

_SHARED: dict[str, object] = {}


def data_tag(data_root: Path | str) -> str:
    return "d" + hashlib.sha256(os.path.realpath(data_root).encode()).hexdigest()[:8]


def bins_name(data_root: Path | str, height: int = H, width: int = W, num: int = N_IMAGES) -> str:
    return f"{height}x{width}_float32_{data_tag(data_root)}_first{num}"


class LazyPath(os.PathLike):
    """A relative path computed when used (`arts / BINS`), for module-level names of the shared runs."""

    def __init__(self, make: Callable[[], str]):
        self._make = make

    def __fspath__(self) -> str:
        return self._make()

    __str__ = __fspath__


def __getattr__(name: str) -> str:
    """The names of the session's shared runs, which depend on the shared data set's folder."""
    data = _SHARED.get("data")
    if data is None:
        raise AttributeError(f"{name}: the shared data set is not made yet (call shared_data first)")
    tag = f"{data_tag(data)}_first{N_IMAGES}"  # type: ignore[arg-type]
    names = {"ORT_RUN": f"ort-cpu_{STEM}_{tag}", "ASCEND_RUN": f"ascend_{STEM}_{SOC}_force_fp16_{tag}",
             "BINS_NAME": bins_name(data), "LABELS_NAME": f"polygons_{tag}",  # type: ignore[arg-type]
             "OV_RUN": f"openvino-cpu_{STEM}_fp32_{tag}"}
    if name not in names:
        raise AttributeError(name)
    return names[name]


# ------------------------------------------------------------------------------ environment + make
def clean_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """A CI-like environment: system PATH, HOME, locale; nothing inherited from the test runner."""
    env = {"PATH": SYSTEM_PATH, "HOME": os.environ.get("HOME", "/root"), "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8",
           "TERM": "dumb"}
    if "TMPDIR" in os.environ:
        env["TMPDIR"] = os.environ["TMPDIR"]
    env.update(extra or {})
    return env


CANN_SITE = STANDINS / "cann_site"  # the stand-in te/tbe: what CANN's set_env.sh puts on PYTHONPATH
CANN_PYTHONS = ("3.9.18", "3.8.18", "3.7.16")  # real CPythons CANN 6.0 supports (pyenv), for atc's op compiler


def cann_python() -> str:
    """A real CPython 3.7-3.9 (shared build, python3-config beside it): ATC_PYTHON of the Ascend tests; a skip
    naming what is missing when there is none (the atc stand-in, like atc, refuses any other python3)."""
    root = Path(os.environ.get("PYENV_ROOT", "/root/.pyenv")) / "versions"
    for version in CANN_PYTHONS:
        exe = root / version / "bin" / "python3"
        if exe.is_file() and (exe.parent / "python3-config").is_file():
            return str(exe)
    import pytest

    pytest.skip(f"no CPython 3.7-3.9 under {root} for atc's op compiler (pyenv install 3.9.18)")


def ascend_env(log: Path, set_env: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """Clean env + the stand-ins: bin/ first on PATH, `python -m ais_bench` = stand-in, argv log, CANN's
    Python for atc (ATC_PYTHON) with the stand-in te on PYTHONPATH."""
    return clean_env({"PATH": f"{STANDINS / 'bin'}:{SYSTEM_PATH}", "PYTHONPATH": f"tests/standins:{CANN_SITE}",
                      "STANDIN_PYTHON": str(VENV_PY), "STANDIN_LOG": str(log), "ASCEND_SET_ENV": str(set_env),
                      "ATC_PYTHON": cann_python(), **(extra or {})})


def harmless_set_env(folder: Path) -> Path:
    """A set_env.sh that exists (so BACKEND=auto considers CANN) and only exports one variable."""
    path = Path(folder) / "set_env.sh"
    path.write_text("# test stand-in for the CANN set_env.sh\nexport SEMASK_TEST_SET_ENV=1\n")
    return path


def make_cmd(targets: Sequence[str], artifacts: Path | str | None, data_root: Path | str | None,
             variables: Mapping[str, str] | None = None, flags: Sequence[str] = ()) -> list[str]:
    cmd = ["make", *flags, *targets]
    if artifacts is not None:
        cmd.append(f"ARTIFACTS={artifacts}")
    if data_root is not None:
        cmd.append(f"DATA_ROOT={data_root}")
    cmd += [f"{k}={v}" for k, v in (variables or {}).items()]
    return cmd


def run_make(targets: Sequence[str], artifacts: Path | str | None, data_root: Path | str | None,
             variables: Mapping[str, str] | None = None, env: Mapping[str, str] | None = None,
             flags: Sequence[str] = (), check: bool = True) -> subprocess.CompletedProcess:
    """`make TARGETS ARTIFACTS=.. DATA_ROOT=.. VAR=..` from the repo root; check=True asserts exit 0."""
    cmd = make_cmd(targets, artifacts, data_root, variables, flags)
    proc = subprocess.run(cmd, cwd=ROOT, env=dict(env or clean_env()), capture_output=True, text=True,
                          timeout=MAKE_TIMEOUT)
    if check:
        assert proc.returncode == 0, f"{cmd} failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    return proc


def parse_errors(proc: subprocess.CompletedProcess) -> list[str]:
    """The parse-time refusals: the run's plan prints one `error:` line per mistake, then make stops."""
    assert re.search(r"\*\*\* (the make variables above need fixing|nothing was run)", proc.stderr), proc.stderr[-3000:]
    return [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]


def ort_vars(**over: str) -> dict[str, str]:
    return {**CONFIG, "BACKEND": "ort", **over}


def _default_sigint() -> None:
    """Runs in the child before exec: a test run started in the background (`&`, nohup, some CI
    runners) ignores SIGINT, and children inherit that; make must get SIGINT as a user's Ctrl-C."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start_make(targets: Sequence[str], artifacts: Path, data_root: Path, variables: Mapping[str, str],
               env: Mapping[str, str] | None = None, log: Path | None = None) -> subprocess.Popen:
    """Start make in its own session/process group (so os.killpg reaches every child)."""
    cmd = make_cmd(targets, artifacts, data_root, variables)
    out = open(log, "w") if log else subprocess.DEVNULL
    try:
        return subprocess.Popen(cmd, cwd=ROOT, env=dict(env or clean_env()), stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True, preexec_fn=_default_sigint)
    finally:
        if log:
            out.close()


def kill_when(proc: subprocess.Popen, ready: Callable[[], bool], sig: int, poll: float = 0.002,
              timeout: float = 300.0) -> bool:
    """Send `sig` to proc's process group as soon as `ready()` holds; True if it was sent before the
    process ended on its own. Always waits for the process group leader to exit."""
    deadline = time.monotonic() + timeout
    sent = False
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        if ready():
            try:
                os.killpg(proc.pid, sig)
                sent = True
            except ProcessLookupError:
                pass
            break
        time.sleep(poll)
    else:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        raise AssertionError("the trigger never fired")
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        raise AssertionError(f"make did not exit within 60 s of signal {sig}") from None
    if sent and not _group_gone(proc.pid):
        os.killpg(proc.pid, signal.SIGKILL)
        raise AssertionError(f"children of make were still running 60 s after signal {sig}")
    return sent


def _group_gone(pgid: int, timeout: float = 60.0) -> bool:
    """Wait until no process of the group is left (children clean up after SIGINT on their own)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.02)
    return False


@contextlib.contextmanager
def tmpfs(path: Path, size: str) -> Iterator[Path]:
    """A small tmpfs mounted at `path` (a full disk on demand); the test is skipped where mount is refused."""
    import pytest

    path.mkdir(parents=True, exist_ok=True)
    try:
        mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                                 capture_output=True).returncode == 0
    except OSError:
        mounted = False
    if not mounted:
        pytest.skip("cannot mount a small tmpfs here (needs root)")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


# ------------------------------------------------------------------------------ trees
def copy_tree(src: Path, dst: Path, skip: Iterable[str] = ()) -> Path:
    """Copy an artifacts tree keeping mtimes; top-level entries in `skip` are left out."""
    skip = set(skip)
    shutil.copytree(src, dst, symlinks=True, ignore=lambda d, names: [n for n in names if Path(d) == Path(src) and n in skip])
    return dst


def mtimes(folder: Path) -> dict[str, int]:
    return {str(p.relative_to(folder)): p.stat().st_mtime_ns for p in sorted(Path(folder).rglob("*")) if p.is_file()}


def read_json(path: Path) -> dict:
    return json.loads(Path(path).read_text())


def ort_run(data_root: Path | str) -> str:
    """The ORT run's name on another data set than the shared one (the names carry the data's folder)."""
    return f"ort-cpu_{STEM}_{data_tag(data_root)}_first{N_IMAGES}"


def report_path(artifacts: Path, run: str | None = None, data: Path | None = None) -> Path:
    return Path(artifacts) / "reports" / f"{run or (ort_run(data) if data else __getattr__('ORT_RUN'))}.json"


def pred_files(artifacts: Path, run: str | None = None, data: Path | None = None) -> dict[str, bytes]:
    folder = Path(artifacts) / "preds" / (run or (ort_run(data) if data else __getattr__("ORT_RUN")))
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def make_dataset(out: Path, num: int = N_IMAGES, height: int = H, width: int = W, seed: int = 0) -> Path:
    """tools/make_synthetic_cityscapes.py into `out` (run as a user would)."""
    subprocess.run([str(VENV_PY), "tools/make_synthetic_cityscapes.py", "--out", str(out), "--num", str(num),
                    "--height", str(height), "--width", str(width), "--seed", str(seed), "--jobs", "1"],
                   cwd=ROOT, env=clean_env(), check=True, capture_output=True)
    return out


# ------------------------------------------------------------------------------ session-shared runs
def shared_base(tmp_path_factory) -> Path:
    if "base" not in _SHARED:
        _SHARED["base"] = tmp_path_factory.mktemp("pipeline_shared")
    return _SHARED["base"]  # type: ignore[return-value]


def shared_data(tmp_path_factory) -> Path:
    """The 7-image 64x128 synthetic Cityscapes val split, in a folder whose path has a space."""
    if "data" not in _SHARED:
        _SHARED["data"] = make_dataset(shared_base(tmp_path_factory) / "data root" / "cityscapes")
    return _SHARED["data"]  # type: ignore[return-value]


def shared_ort(tmp_path_factory) -> dict:
    """One `make all` on the ORT path (BACKEND=ort, CPU): {'artifacts', 'data', 'proc', 'report'}."""
    if "ort" not in _SHARED:
        data = shared_data(tmp_path_factory)
        arts = shared_base(tmp_path_factory) / "ort_artifacts"
        proc = run_make(["all"], arts, data, ort_vars())
        _SHARED["ort"] = {"artifacts": arts, "data": data, "proc": proc, "report": read_json(report_path(arts))}
    return _SHARED["ort"]  # type: ignore[return-value]


def shared_ascend(tmp_path_factory) -> dict:
    """`make all` then `make perf LOOP=3` on the Ascend path through the stand-ins, from scratch,
    BACKEND=auto and SOC=auto: {'artifacts', 'data', 'log', 'env', 'all', 'perf', 'report'}."""
    if "ascend" not in _SHARED:
        data = shared_data(tmp_path_factory)
        base = shared_base(tmp_path_factory) / "ascend"
        base.mkdir()
        arts, log = base / "artifacts", base / "standin.log"
        env = ascend_env(log, harmless_set_env(base))
        variables = {**CONFIG, "BACKEND": "auto", "SOC": "auto"}
        all_proc = run_make(["all"], arts, data, variables, env=env)
        all_calls = len(log.read_text().splitlines())
        perf_proc = run_make(["perf"], arts, data, {**variables, "LOOP": "3"}, env=env)
        _SHARED["ascend"] = {"artifacts": arts, "data": data, "log": log, "env": env, "vars": variables,
                             "all": all_proc, "perf": perf_proc, "all_calls": all_calls,
                             "report": read_json(report_path(arts, __getattr__("ASCEND_RUN")))}
    return _SHARED["ascend"]  # type: ignore[return-value]


def shared_big_data(tmp_path_factory) -> dict:
    """16 synthetic frames at 512x1024 and the manifest of an uninterrupted `make bins` on them
    (for killing preprocess surely mid-run); {'data', 'manifest'}."""
    if "big" not in _SHARED:
        base = shared_base(tmp_path_factory) / "big"
        data = make_dataset(base / "data", num=16, height=512, width=1024, seed=3)
        arts = seeded_tree(tmp_path_factory, base / "artifacts")
        run_make(["bins"], arts, data, ort_vars(HEIGHT="512", WIDTH="1024", LIMIT="16"))
        manifest = read_json(arts / "bins" / bins_name(data, 512, 1024, 16) / "manifest.json")
        shutil.rmtree(arts)
        _SHARED["big"] = {"data": data, "manifest": manifest}
    return _SHARED["big"]  # type: ignore[return-value]


def standin_calls(log: Path, tool: str, first: int = 0, last: int | None = None) -> list[list[str]]:
    lines = Path(log).read_text().splitlines()[first:last]
    return [rec["argv"] for rec in map(json.loads, lines) if rec["tool"] == tool]


def seeded_tree(tmp_path_factory, dst: Path) -> Path:
    """A new ARTIFACTS tree holding only the shared run's ONNX export, env check and weights stamp (and the
    kit's records of them), so a
    `make all` on other data starts at preprocess instead of spending seconds on the export."""
    src = shared_ort(tmp_path_factory)["artifacts"]
    dst.mkdir(parents=True)
    for rel in ("onnx", "env"):
        shutil.copytree(src / rel, dst / rel)
    (dst / ".state").mkdir()
    for stamp in (src / ".state").glob("weights_*.txt"):
        shutil.copy2(stamp, dst / ".state" / stamp.name)
    # the kit's records of the copied files (its ledger, semask.core.ledger), so `make clean` knows them
    kept = [ln for ln in (src / ".records.jsonl").read_text().splitlines()
            if json.loads(ln)["path"].startswith(("onnx/", "env/", ".state/weights_"))]
    (dst / ".records.jsonl").write_text("".join(ln + "\n" for ln in kept))
    return dst


def python() -> str:
    return str(VENV_PY) if VENV_PY.exists() else sys.executable


def planned_path(proc: subprocess.CompletedProcess, key: str) -> str:
    """The artifact path `key` (e.g. OM) of the plan a `make -n` printed (`... --plan <plan.json>`)."""
    from semask.run.plan import load

    [plan_json] = sorted(set(re.findall(r"--plan (\S+\.json)", proc.stdout)))
    return load(ROOT / plan_json).paths()[key]


def error_lines(proc: subprocess.CompletedProcess) -> list[str]:
    """The `error:` lines a command printed on stderr."""
    return [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]


def listing(folder: Path) -> dict[str, int]:
    """Every path below `folder` with its mtime (symlinks not followed): what 'nothing was touched' compares."""
    out = {}
    for dirpath, dirs, files in os.walk(folder):
        for name in dirs + files:
            p = Path(dirpath) / name
            out[str(p.relative_to(folder))] = p.lstat().st_mtime_ns
    return out
