"""Environment check: record versions of everything the kit uses and fail early on gaps.

Why: results (mIoU, fps) are only comparable with the exact software that produced them, and a
missing package should stop the pipeline before hours of work with the command that fixes it.
It lives with the runtimes it checks (ONNX Runtime providers, CANN, npu-smi, ais_bench); the
package facts come from semask.core.packages.
"""
from __future__ import annotations

import datetime
import importlib.metadata as md
import importlib.util
import platform
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from semask.core.errors import KitError, not_one_of
from semask.core.packages import fix_command, missing_for, package_versions
from semask.backends.ascend import toolchain as ascend
from semask.backends.ascend.probe import probe
from semask.backends.ascend.set_env import default_set_env
from semask.spec import AIS_BENCH_DISTS, RESOLVED_BACKENDS


def ort_providers() -> list[str]:
    try:
        import onnxruntime as ort
    except ImportError:
        return []
    return list(ort.get_available_providers())


def _dist_version(name: str) -> str | None:
    try:
        return md.version(name)
    except md.PackageNotFoundError:
        return None


def ascend_info() -> dict[str, Any]:
    """CANN / atc / driver / chip / ais_bench facts; absent tools give None, never an error."""
    info: dict[str, Any] = {"set_env": None, "cann_version": ascend.cann_version(), "atc": shutil.which("atc"),
                            "npu_smi": shutil.which("npu-smi"), "driver_version": None, "chips": [],
                            "ais_bench": None, "ais_bench_dist": None, "aclruntime": _dist_version("aclruntime"),
                            "ais_bench_importable": importlib.util.find_spec("ais_bench") is not None}
    # the tool has been published as ais_bench, ait-benchmark and msit-benchmark
    dist = next((d for d in AIS_BENCH_DISTS if _dist_version(d)), None)
    info["ais_bench"], info["ais_bench_dist"] = (_dist_version(dist), dist) if dist else (None, None)

    info["set_env"] = default_set_env() if Path(default_set_env()).is_file() else None
    if info["cann_version"] is None and info["atc"]:
        try:
            proc = subprocess.run([info["atc"], "--version"], capture_output=True, text=True, timeout=60)
            found = re.search(r"(\d+\.\d+[\w.]*)", proc.stdout + proc.stderr)
            info["cann_version"] = found.group(1) if (proc.returncode == 0 and found) else None
        except (OSError, subprocess.TimeoutExpired):
            pass
    if info["npu_smi"]:
        try:
            text = ascend.npu_smi_info()
            info["driver_version"] = ascend.parse_driver_version(text)
            info["chips"] = ascend.parse_chip_names(text)
        except KitError as exc:
            info["npu_smi_error"] = str(exc)
    return info


def check_environment(backend: str = "ort", need: str = "all") -> dict[str, Any]:
    """The environment record; KitError (with the fixing command) when something required is missing."""
    packages = package_versions()
    missing = missing_for(need, packages)
    if missing:
        raise KitError(f"missing Python packages for NEED={need}: {', '.join(missing)} (python {sys.executable}); "
                       f"run {fix_command()}")
    record: dict[str, Any] = {
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "backend": backend, "need": need,
        "python": {"version": platform.python_version(), "executable": sys.executable,
                   "implementation": platform.python_implementation()},
        "platform": {"system": platform.system(), "release": platform.release(), "machine": platform.machine()},
        "packages": packages,
        "onnxruntime_providers": ort_providers(),
        "ascend": ascend_info(),
    }
    if backend == "ascend":
        a = record["ascend"]
        if a["atc"] is None and need in ("export", "all"):
            raise KitError("BACKEND=ascend but atc is not on PATH; `source /usr/local/Ascend/ascend-toolkit/set_env.sh` "
                           "(or $ASCEND_SET_ENV) first")
        if need in ("infer", "all"):
            found = probe(default_set_env())
            a["probe"] = {"ok": found.ok, "failed": found.failed, "message": found.message, "python": found.python,
                          "versions": found.versions}
            if not found.ok:
                raise KitError(f"BACKEND=ascend but the ais_bench check '{found.failed}' failed: {found.message}")
    elif backend == "openvino":
        if packages["openvino"]["version"] is None:
            raise KitError(f"BACKEND=openvino but the openvino package is missing (python {sys.executable}); "
                           f"run {fix_command()}")
    elif backend != "ort":
        raise KitError(not_one_of("BACKEND", backend, RESOLVED_BACKENDS, "tools/select_backend.py resolves auto"))
    mismatched = [f"{n} {p['version']} (pinned {p['pinned']})" for n, p in packages.items() if p["matches_pin"] is False]
    record["pin_mismatches"] = mismatched
    return record


def write_environment(out: Path | str, backend: str, need: str) -> dict[str, Any]:
    """Check the environment, write its record to `out` (atomically) and print the one summary line (and a
    warning per pin the installed packages differ from): `make env` and every run's env step."""
    from semask.core.fsio import atomic_write_json

    record = check_environment(backend, need)
    atomic_write_json(out, record)
    for line in record["pin_mismatches"]:
        print(f"warning: {line} differs from env/requirements.txt", file=sys.stderr)
    pk = record["packages"]
    print(f"env ok ({backend}, {need}): python {record['python']['version']}, torch {pk['torch']['version']}, "
          f"onnxruntime {pk['onnxruntime']['version']} {record['onnxruntime_providers']}, "
          f"CANN {record['ascend']['cann_version']} -> {out}")
    return record
