"""Environment check: record versions of everything the kit uses and fail early on gaps.

Why: results (mIoU, fps) are only comparable with the exact software that produced them, and a
missing package should stop the pipeline before hours of work with the command that fixes it.
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

from semask.core.errors import KitError

ROOT = Path(__file__).resolve().parents[3]
REQUIREMENTS = ROOT / "env" / "requirements.txt"

#: kit name -> (distribution names to try, steps that need it)
PACKAGES: dict[str, tuple[tuple[str, ...], frozenset[str]]] = {
    "numpy": (("numpy",), frozenset({"export", "infer"})),
    "torch": (("torch",), frozenset({"export"})),
    "onnx": (("onnx",), frozenset({"export", "infer"})),
    "onnxsim": (("onnxsim",), frozenset({"export"})),
    "onnxruntime": (("onnxruntime", "onnxruntime-gpu", "onnxruntime-cann"), frozenset({"export", "infer"})),
    "opencv": (("opencv-python-headless", "opencv-python", "opencv-contrib-python-headless"), frozenset({"infer"})),
    "cityscapesscripts": (("cityscapesscripts",), frozenset({"infer"})),
    "pillow": (("pillow", "Pillow"), frozenset({"infer"})),  # draws the label polygons: pinned in both envs
    "gdown": (("gdown",), frozenset({"export"})),
    "tqdm": (("tqdm",), frozenset({"export", "infer"})),
    "psutil": (("psutil",), frozenset()),
    "openvino": (("openvino",), frozenset()),  # BACKEND=openvino only (checked below)
}
NEEDS = ("export", "infer", "all")


def pinned_versions(path: Path = REQUIREMENTS) -> dict[str, str]:
    """`name==version` pins from env/requirements.txt (lower-case names)."""
    pins: dict[str, str] = {}
    if path.is_file():
        for line in path.read_text().splitlines():
            found = re.match(r"^\s*([A-Za-z0-9_.\-]+)\s*==\s*([^\s;#]+)", line)
            if found:
                pins[found.group(1).lower()] = found.group(2)
    return pins


def package_versions() -> dict[str, dict[str, Any]]:
    """Installed distribution + version per kit package (version None when missing)."""
    pins = pinned_versions()
    out: dict[str, dict[str, Any]] = {}
    for name, (dists, _) in PACKAGES.items():
        entry: dict[str, Any] = {"dist": None, "version": None, "pinned": None}
        for dist in dists:
            try:
                entry = {"dist": dist, "version": md.version(dist), "pinned": pins.get(dist.lower())}
                break
            except md.PackageNotFoundError:
                continue
        if entry["dist"] is None:
            entry["pinned"] = next((pins[d.lower()] for d in dists if d.lower() in pins), None)
        entry["matches_pin"] = None if entry["pinned"] is None or entry["version"] is None else entry["version"].split("+")[0] == entry["pinned"]
        out[name] = entry
    return out


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
    from semask.runtime import ascend
    info: dict[str, Any] = {"set_env": None, "cann_version": ascend.cann_version(), "atc": shutil.which("atc"),
                            "npu_smi": shutil.which("npu-smi"), "driver_version": None, "chips": [],
                            "ais_bench": None, "ais_bench_dist": None, "aclruntime": _dist_version("aclruntime"),
                            "ais_bench_importable": importlib.util.find_spec("ais_bench") is not None}
    from semask.runtime.select import default_set_env
    from semask.spec import AIS_BENCH_DISTS

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
            info["chips"] = sorted({m.group(2) for m in map(ascend._CHIP_ROW.match, text.splitlines()) if m})
        except KitError as exc:
            info["npu_smi_error"] = str(exc)
    return info


def missing_for(need: str, packages: dict[str, dict[str, Any]]) -> list[str]:
    """Kit packages required by `need` that are not installed."""
    if need not in NEEDS:
        raise KitError(f"NEED={need!r} is not one of {', '.join(NEEDS)}")
    return [name for name, (_, needs) in PACKAGES.items()
            if (need == "all" or need in needs) and packages[name]["version"] is None]


def fix_command() -> str:
    venv = ROOT / ".venv"
    if not venv.is_dir():
        return "make env"
    return f"make env (or {venv}/bin/pip install -r {REQUIREMENTS.relative_to(ROOT)})"


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
            from semask.runtime.ascend_probe import probe
            from semask.runtime.select import default_set_env

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
        raise KitError(f"BACKEND={backend!r} must be ascend, ort or openvino here (run tools/select_backend.py to "
                       "resolve auto)")
    mismatched = [f"{n} {p['version']} (pinned {p['pinned']})" for n, p in packages.items() if p["matches_pin"] is False]
    record["pin_mismatches"] = mismatched
    return record
