"""Provenance: everything that produced a number, recorded next to it.

A reported mIoU or fps is only worth what its record says: the kit commit (and whether the tree
was dirty), the upstream commit, the sha256 of weights / ONNX / OM, the run's variables, the
backend, package and CANN/driver versions, host, date and the full command line.
"""
from __future__ import annotations

import datetime
import os
import platform
import socket
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, Mapping, Sequence

from semask.run.plan import RunPlan
from semask.spec import UPSTREAM_COMMIT, UPSTREAM_REPO_URL
from semask.core.errors import KitError
from semask.core.fsio import sha256_file

ROOT = Path(__file__).resolve().parents[3]


def git_state(root: Path = ROOT) -> Dict[str, Any]:
    """The kit's commit and a dirty flag (tracked files changed); None outside a git checkout, and a warning
    line when git itself is missing (the record's `commit: null` would otherwise go unexplained)."""
    if shutil.which("git") is None:
        print("warning: git is not on PATH, so this result's provenance records commit: null (the kit's version "
              "is unknown); install git or put it on PATH to record it", file=sys.stderr)
        return {"commit": None, "dirty": None}

    def git(*args: str) -> str | None:
        try:
            proc = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=20)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return proc.stdout.strip() if proc.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no")
    return {"commit": commit, "dirty": bool(status) if status is not None else None}


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith(("model name", "hardware", "cpu model")):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def file_facts(files: Mapping[str, str]) -> Dict[str, Any]:
    """sha256 (and sidecar facts when present) of the named artifact files."""
    out: Dict[str, Any] = {}
    for role, path in files.items():
        if not path or path == "random":
            out[role] = {"path": path, "sha256": None}
            continue
        p = Path(path)
        if not p.is_file():
            raise KitError(f"provenance: {role} file {p} does not exist; rerun the step that makes it")
        out[role] = {"path": str(p), "sha256": sha256_file(p), "bytes": p.stat().st_size}
    return out


def collect(variables: Mapping[str, str], files: Mapping[str, str], command: str, backend: str,
            provider: str | None = None, ascend: Dict[str, Any] | None = None) -> Dict[str, Any]:
    """The provenance record of one run (`ascend`: the CANN/driver/chip facts, which the runtime reads)."""
    from semask.core.packages import package_versions

    packages = {name: info.get("version") for name, info in package_versions().items()}
    record: Dict[str, Any] = {
        "kit": git_state(),
        "upstream": {"repo": UPSTREAM_REPO_URL, "commit": UPSTREAM_COMMIT},
        "variables": dict(variables),
        "files": file_facts(files),
        "backend": backend,
        "provider": provider,
        "packages": packages,
        "python": platform.python_version(),
        "host": {"name": socket.gethostname(), "cpu": cpu_model(), "cores": os.cpu_count(), "machine": platform.machine(),
                 "os": platform.platform()},
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": command,
    }
    if ascend is not None:
        record["ascend"] = ascend
    return record


def plan_record(plan: RunPlan, command: str, ascend: Dict[str, Any] | None = None) -> Dict[str, Any]:
    """The provenance of a make run: its plan's variables and the files its result came from."""
    paths, weights = plan.paths(), plan.values["WEIGHTS"]
    known = plan.resolved.weights_sha256  # hashed once, by the plan: the weights are not read again here
    files = {"weights": "" if known and known != "random" else weights, "onnx": paths["ONNX_USED"]}
    if plan.backend == "ascend":
        files["om"] = paths["OM"]
    record = collect(plan.record_variables(), files, command, plan.backend, plan.provider, ascend)
    if known and known != "random":
        record["files"]["weights"] = {"path": weights, "sha256": known, "bytes": Path(weights).stat().st_size}
    return record


def parse_pairs(pairs: Sequence[str], what: str) -> Dict[str, str]:
    out = {}
    for pair in pairs:
        if "=" not in pair:
            raise KitError(f"{what} {pair!r} must look like NAME=VALUE")
        key, value = pair.split("=", 1)
        out[key] = value
    return out
