"""Turn a checked RunPlan into a resolved one, and hand it to make: the one Python call make makes.

Why here: resolving needs the runtime (which backend works, which SoC npu-smi shows) and the
workspace (the ARTIFACTS lock, the dataset's native size), so it sits above both; `semask.run.plan`
itself stays below everything and only names things. This runs while make reads the Makefile, on
the host's Python before `.venv` exists: standard library only.

Under `make -n` / `-q` (dry_run) nothing under ARTIFACTS is written: no marker, lock, stamp or
`reports/latest`; the include and the plan JSON go to the checkout's `.make/` only.
"""
from __future__ import annotations

import contextlib
import dataclasses
import errno
import json
import os
import shlex
import shutil
import sys
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

from semask import spec
from semask.run import datacheck, makes, ram, stamps, workspace
from semask.backends.ascend.atc_help import atc_help_text, precision_v2_problem
from semask.backends.ascend.dev_access import device_access_problem
from semask.backends.ascend.devices import DeviceError, check_single_device, chips_for_run, resolve_devices
from semask.core.errors import KitError
from semask.core import fsio
from semask.core.fsio import DISK_FULL, atomic_write_text
from semask.core.procs import pid_alive
from semask.backends.ascend.toolchain import resolve_soc
from semask.backends.registry import backend_for, select_backend
from semask.backends.ascend.set_env import applied, source_set_env
from semask.run.plan import (PlanError, Resolved, RunPlan, build, data_tag, make_include, parse_cmdline, weights_identity,
                         write_latest)


def choose_backend(requested: str, set_env: str, atc_python: str | None = None) -> str:
    """'ascend' or 'ort' (BACKEND=auto says why on stderr); BACKEND=ascend that cannot work is a PlanError.

    select_backend sources ASCEND_SET_ENV itself: a failing script is named with its exit code, and
    BACKEND=auto then falls back to ONNX Runtime and says why."""
    try:
        backend, reason = select_backend(requested, set_env, atc_python)
    except KitError as exc:
        raise PlanError([f"error: {exc}"]) from None
    if requested == "auto":
        print(reason, file=sys.stderr)
    return backend


def resolve_chips(soc: str, device: str, set_env: str) -> Tuple[str, List[int]]:
    """(atc's --soc_version, the device ids), in CANN's environment: DEVICE checked against the chips
    npu-smi lists (`all`: every chip), SOC as given or read from npu-smi (SOC=auto; one OM, one SoC)."""
    sourced = source_set_env(set_env) if Path(set_env).is_file() else None
    with applied(sourced.env) if sourced is not None and sourced.ok else contextlib.nullcontext():
        try:
            chips, warning = chips_for_run(soc)  # npu-smi failing with an explicit SOC: one warning
            if warning:
                print(warning, file=sys.stderr)
            devices = resolve_devices(device, chips, use_npu_smi=False)
        except DeviceError as exc:
            raise PlanError([f"error: {line}" for line in exc.lines]) from None
        return resolve_soc(soc, devices)[0], devices


def check_atc_help(precision_v2: str, set_env: str) -> None:
    """PRECISION_V2 only on an atc whose --help lists --precision_mode_v2 (CANN 6.0's does not)."""
    if not precision_v2:
        return
    sourced = source_set_env(set_env) if Path(set_env).is_file() else None
    with applied(sourced.env) if sourced is not None and sourced.ok else contextlib.nullcontext():
        problem = precision_v2_problem(precision_v2, atc_help_text())
    if problem:
        raise PlanError([f"error: {problem}"])


def resolve(plan: RunPlan, owner_pid: int, dry_run: bool) -> RunPlan:
    """Backend, SoC, native size and identities of a checked plan; takes the ARTIFACTS lock unless dry."""
    v = plan.values
    backend = choose_backend(v["BACKEND"], v["ASCEND_SET_ENV"], v.get("ATC_PYTHON") or None)
    errors = [f"error: {line}" for line in backend_for(backend).check(v)]  # the backend's own parse-time checks
    devices: List[int] = []
    if backend != "ascend" and not errors:  # only ais_bench runs several devices (the chips: resolve_chips below)
        devices = [check_single_device(v["DEVICE"], backend)]
    if backend != "ascend" and "atc-check" in plan.goals:
        errors.append(f"error: make atc-check needs atc: BACKEND={v['BACKEND']} resolved to {backend}; source the CANN "
                      "set_env.sh (ASCEND_SET_ENV) or pass BACKEND=ascend")
    if errors:
        raise PlanError(errors)
    default_native = f"{spec.NATIVE_HEIGHT}x{spec.NATIVE_WIDTH}"
    artifacts, data_root = Path(v["ARTIFACTS"]), Path(v["DATA_ROOT"])
    soc = ""
    try:
        native = workspace.preflight(artifacts, data_root, owner_pid, v["NOWAIT"] == "1", default_native,
                                     dry_run=dry_run)
        if backend == "ascend":
            soc, devices = resolve_chips(v["SOC"], v["DEVICE"], v["ASCEND_SET_ENV"])
            denied = device_access_problem(devices)  # non-root users outside the driver's group
            if denied:
                raise PlanError([f"error: {denied}"])
            check_atc_help(v["PRECISION_V2"], v["ASCEND_SET_ENV"])
        _data_and_ram(plan, backend, native)
    except PlanError:
        raise
    except KitError as exc:  # workspace.Refused too
        raise PlanError([f"error: {exc}"], getattr(exc, "blames_variables", True)) from None
    tag, sha = weights_identity(v["WEIGHTS"], v["MODEL"])  # the one hash of the weights in a run
    return RunPlan(values=plan.values, given=plan.given, goals=plan.goals,
                   resolved=Resolved(backend=backend, soc=soc, native=native, weights_tag=tag, weights_sha256=sha,
                                     data_tag=data_tag(v["DATA_ROOT"]), devices=",".join(map(str, devices))))


def _data_and_ram(plan: RunPlan, backend: str, native: str) -> None:
    """DATA_ROOT's layout, an input size the frames can be resized to, and BS against the host's RAM (issue 26)."""
    v = plan.values
    layout = datacheck.layout_problem(v["DATA_ROOT"], plan.goals, os.environ)
    if layout:
        raise PlanError([f"error: {layout}"])
    size = datacheck.size_problem(native, int(v["HEIGHT"]), int(v["WIDTH"])) if datacheck.needs_data(plan.goals) else None
    memory = _ram_problem(plan, backend)
    if size or memory:
        raise PlanError([f"error: {line}" for line in (size, memory) if line])


def _ram_problem(plan: RunPlan, backend: str) -> Optional[str]:
    """BS against the host's RAM, from the measured per-step peaks (CPU backends; semask.run.ram)."""
    v = plan.values
    if not ram.STEP_GOALS & set(plan.goals) or backend not in ("ort", "openvino") or \
            (backend == "ort" and v["ORT_PROVIDER"] != "cpu"):
        return None
    return ram.bs_problem(backend, v["MODEL"], int(v["HEIGHT"]), int(v["WIDTH"]), int(v["BS"]), dict(os.environ))


STAMP_KEYS = ("WEIGHTS_STAMP", "DATA_STAMP", "LABELS_CHECK", "BINS_CHECK", "PREDS_CHECK")


def refresh_stamps(plan: RunPlan, shadow: Optional[Path] = None) -> Dict[str, str]:
    """The stamps make cannot see for itself: the weights' and dataset's identity, finished steps' outputs.

    With `shadow` (make -n / -q) the stamps are refreshed in copies there (content and mtime of the real
    ones), so make shows exactly what a real run would redo while nothing under ARTIFACTS is written;
    returns the stamp variables that then point at the copies."""
    paths = plan.paths()
    p = dict(paths)
    overrides: Dict[str, str] = {}
    if shadow is not None:
        shadow.mkdir(parents=True, exist_ok=True)
        for key in STAMP_KEYS:
            real, copy = Path(p[key]), shadow / Path(p[key]).name
            if real.is_file():
                shutil.copy2(real, copy)
            p[key] = overrides[key] = str(copy)
    weights = plan.values["WEIGHTS"]
    # Not yet downloaded weights or dataset: no stamp (the rules depend on it only once it exists), so a
    # failed download changes nothing and the first look after a download redoes nothing.
    if plan.resolved.weights_tag == "official":
        if Path(weights).exists():  # hashed here once per download (the stamp keeps the sha256, see stamps)
            stamps.official_sha256(Path(p["WEIGHTS_STAMP"]), weights)
    else:  # the tag is the content: the stamp never changes
        stamps.write_stamp(Path(p["WEIGHTS_STAMP"]), plan.resolved.weights_tag + "\n")
    if (Path(plan.values["DATA_ROOT"]) / stamps.DATA_SUBDIRS[0]).is_dir():
        stamps.write_stamp(Path(p["DATA_STAMP"]), stamps.data_root_stamp(plan.values["DATA_ROOT"]))
    targets = {"LABELS_CHECK": ("labels", "LABELS_JSON"), "BINS_CHECK": ("bins", "BINS"),
               "PREDS_CHECK": ("preds", "PRED_SUMMARY")}
    for stamp, (kind, target) in targets.items():
        stamps.check(kind, Path(paths[target]), Path(p[stamp]))
    return overrides


def with_official_sha256(plan: RunPlan, overrides: Mapping[str, str]) -> RunPlan:
    """The plan with the downloaded weights' sha256 its stamp recorded (refresh_stamps), so no step hashes them."""
    if plan.resolved.weights_tag != "official" or plan.resolved.weights_sha256:
        return plan
    stamp = Path(overrides.get("WEIGHTS_STAMP") or plan.paths()["WEIGHTS_STAMP"])
    if not Path(plan.values["WEIGHTS"]).exists() or not stamp.is_file():
        return plan  # not downloaded yet: the first step that needs the sha256 records it (semask.run.steps)
    return dataclasses.replace(plan, resolved=dataclasses.replace(
        plan.resolved, weights_sha256=stamps.official_sha256(stamp, plan.values["WEIGHTS"])))


def collect_garbage(folder: Path) -> None:
    """Remove the plan files of make invocations that have ended."""
    for path in [*folder.glob("plan.*.*"), *folder.glob("dry.*")]:
        pid = path.name.split(".")[1]
        if pid.isdigit() and not pid_alive(int(pid)):
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            elif path.exists():
                path.unlink()


def write(plan: RunPlan, folder: Path, owner_pid: int, command: str, overrides: Mapping[str, str]) -> Path:
    """Write `.make/plan.<pid>.mk` and `.json` (temp name, then rename); return the include's path."""
    folder.mkdir(parents=True, exist_ok=True)
    collect_garbage(folder)
    mk, js = folder / f"plan.{owner_pid}.mk", folder / f"plan.{owner_pid}.json"
    atomic_write_text(js, json.dumps({**plan.to_json(), "command": command}, indent=1, sort_keys=True) + "\n")
    atomic_write_text(mk, make_include(plan, str(js), command, overrides))
    return mk


def plan_for_make(cmdline: Sequence[str], environ: Mapping[str, str], goals: Sequence[str], owner_pid: int,
                  dry_run: bool, folder: Path) -> Path:
    """The whole parse-time job: check, resolve (pipeline goals), stamps, latest pointer, include file."""
    plan = build(parse_cmdline(cmdline), environ, goals)
    running = makes.running_line(folder, owner_pid) if "distclean" in goals else None
    if running:
        raise PlanError([running])
    overrides: Dict[str, str] = {}
    if plan.needs_config():
        plan = resolve(plan, owner_pid, dry_run)
        overrides = refresh_stamps(plan, folder / f"dry.{owner_pid}" if dry_run else None)
        plan = with_official_sha256(plan, overrides)
        if not dry_run and {"all", "report"} & set(goals):
            write_latest(plan.artifacts, plan.path("REPORT"))
    command = " ".join(["make", *goals, *(shlex.quote(word) for word in cmdline)])
    return write(plan, folder, owner_pid, command, overrides)


def run_for_make(cmdline: Sequence[str], environ: Mapping[str, str], goals: Sequence[str], owner_pid: int,
                 dry_run: bool, folder: Path) -> int:
    """tools/plan_run.py's one call: print the include's path for make, or every mistake and return 2.

    Never a traceback: a mistake, a file-system error (full or read-only disk) or a kit bug is one line
    each. On failure stdout says whether the variables are to blame (PLAN_BLAMES_VARIABLES), so make's
    last line blames them only then (else PLAN_FAILED: "nothing was run", the lines above say why)."""
    try:
        print(plan_for_make(cmdline, environ, goals, owner_pid, dry_run, folder))
        return 0
    except PlanError as exc:
        lines, blame = exc.lines, exc.blames_variables
    except KitError as exc:
        lines, blame = [f"error: {exc}"], getattr(exc, "blames_variables", False)
    except OSError as exc:
        lines, blame = [f"error: {oserror_line(exc)}"], False
    except Exception as exc:  # noqa: BLE001 - a kit bug still gets one line, never a traceback at parse time
        lines, blame = [f"error: the run's plan failed ({type(exc).__name__}: {exc}); nothing was run: this is a "
                        "kit bug, please report it with this line"], False
    for line in lines:
        print(line, file=sys.stderr)
    print(PLAN_BLAMES_VARIABLES if blame else PLAN_FAILED)
    return 2


PLAN_BLAMES_VARIABLES, PLAN_FAILED = "!variables", "!failed"  # the Makefile tests $(PLAN_MK) for these


def oserror_line(exc: OSError) -> str:
    """One line for a file-system error while the plan writes (stamps, reports/latest, the include)."""
    where = exc.filename or "a file"
    if exc.errno in DISK_FULL:
        return (f"no space left on the device writing {where} ({free_text(where)} free there); nothing was run: "
                "free some space or set ARTIFACTS to a larger disk")
    if exc.errno == errno.EROFS:
        return (f"{where} is on a read-only file system; nothing was run: set ARTIFACTS to a folder on a writable "
                "disk (or remount it read-write)")
    if exc.errno in (errno.EACCES, errno.EPERM):
        return f"no permission to write {where}; nothing was run: fix its permissions or set ARTIFACTS to a folder you own"
    return f"cannot write {where} ({exc.strerror or exc}); nothing was run"


def free_text(where: str) -> str:
    try:
        return fsio.size_text(fsio.free_bytes(Path(where).parent))
    except OSError:
        return "no space"
