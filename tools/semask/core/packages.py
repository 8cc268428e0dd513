"""The Python packages the kit needs: what is installed, and what env/requirements.txt pins.

Why here (core, standard library only): the environment check (semask.backends.envcheck), the
provenance record, the labels step (Pillow pin) and the Ascend probe all read these facts; none of
them should import a backend to do so.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from semask.core import distinfo
from semask.core.errors import KitError, not_one_of
from semask.spec import ENV_NEEDS

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
    "openvino": (("openvino",), frozenset()),  # BACKEND=openvino only (checked by runtime/envcheck)
}


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
            found = distinfo.version(dist)
            if found is not None:
                entry = {"dist": dist, "version": found, "pinned": pins.get(dist.lower())}
                break
        if entry["dist"] is None:
            entry["pinned"] = next((pins[d.lower()] for d in dists if d.lower() in pins), None)
        entry["matches_pin"] = None if entry["pinned"] is None or entry["version"] is None else entry["version"].split("+")[0] == entry["pinned"]
        out[name] = entry
    return out


def missing_for(need: str, packages: dict[str, dict[str, Any]]) -> list[str]:
    """Kit packages required by `need` that are not installed."""
    if need not in ENV_NEEDS:
        raise KitError(not_one_of("NEED", need, ENV_NEEDS))
    return [name for name, (_, needs) in PACKAGES.items()
            if (need == "all" or need in needs) and packages[name]["version"] is None]


def fix_command() -> str:
    venv = ROOT / ".venv"
    if not venv.is_dir():
        return "make env"
    return f"make env (or {venv}/bin/pip install -r {REQUIREMENTS.relative_to(ROOT)})"


