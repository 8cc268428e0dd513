"""Runtime compatibility patches for running the pinned upstream SeMask-FPN (mmseg 0.11 fork,
mmcv 1.3.0) on Python 3.11 / torch 2.13 CPU / numpy 1.26, without editing any upstream file.

Usage (inside env/upstream/venv, before anything imports mmcv, timm or mmseg):

    import patches.upstream_compat as compat
    compat.apply()                          # idempotent
    cfg = compat.cpu_inference_config(cfg)  # SyncBN -> BN, pretrained=None (works on plain dicts)

This module imports only the standard library at import time, so it can be unit-tested in the kit's
own venv, which has neither mmcv nor torchvision.
"""
from __future__ import annotations

import importlib.machinery
import sys
import types
from typing import Any, Callable

STUB_VERSION = "0.0.0+semask-stub"

# name -> one line saying why; filled by apply(), in the order the patches were installed.
APPLIED: dict[str, str] = {}

_REASONS = {
    "torchvision_stub": (
        "mmcv.runner and timm import torchvision at import time but never use it for local checkpoints "
        "and eval; the PyPI torchvision wheel does not load beside the torch 2.13 CPU wheel"
    ),
    "no_bytecode": (
        "the upstream clone stays byte-for-byte untouched: no __pycache__ written into it"
    ),
}


class StubUnavailable(AttributeError):
    """Raised when code touches a part of the torchvision stub (i.e. really needs torchvision)."""


def _stub_getattr(module_name: str) -> Callable[[str], Any]:
    def __getattr__(attr: str) -> Any:
        if attr.startswith("__") and attr.endswith("__"):
            raise AttributeError(attr)
        raise StubUnavailable(
            f"{module_name}.{attr} is not available: torchvision is a stub in env/upstream "
            "(patches/upstream_compat.py); the crosscheck path must not need it"
        )

    return __getattr__


def make_torchvision_stub() -> dict[str, types.ModuleType]:
    """Build stub modules for torchvision and the submodules mmcv/timm import at import time.

    Returns {module name: module}. Every attribute other than the ones set here raises
    StubUnavailable (an AttributeError, so hasattr() answers False) naming the stub.
    """
    names = ["torchvision", "torchvision.transforms", "torchvision.transforms.functional", "torchvision.models",
             "torchvision.ops"]
    modules: dict[str, types.ModuleType] = {}
    for name in names:
        mod = types.ModuleType(name, f"semask stub for {name} (see patches/upstream_compat.py)")
        is_pkg = name != "torchvision.transforms.functional"
        mod.__spec__ = importlib.machinery.ModuleSpec(name, loader=None, is_package=is_pkg)
        if is_pkg:
            mod.__path__ = []  # a package with no files: pkgutil.walk_packages finds nothing
        mod.__file__ = None
        mod.__getattr__ = _stub_getattr(name)  # PEP 562 module __getattr__
        mod.__semask_stub__ = True
        modules[name] = mod
    modules["torchvision"].__version__ = STUB_VERSION
    for name, mod in modules.items():
        parent, _, child = name.rpartition(".")
        if parent:
            setattr(modules[parent], child, mod)
    return modules


def install_torchvision_stub() -> bool:
    """Put the stub into sys.modules unless a torchvision (real or stub) is already imported.

    Returns True when the stub is (now) what `import torchvision` gives.
    """
    existing = sys.modules.get("torchvision")
    if existing is not None:
        return bool(getattr(existing, "__semask_stub__", False))
    for name, mod in make_torchvision_stub().items():
        sys.modules.setdefault(name, mod)
    return True


def apply() -> dict[str, str]:
    """Install every patch once (idempotent); return {patch name: why}."""
    if "no_bytecode" not in APPLIED:
        sys.dont_write_bytecode = True
        APPLIED["no_bytecode"] = _REASONS["no_bytecode"]
    if "torchvision_stub" not in APPLIED and install_torchvision_stub():
        APPLIED["torchvision_stub"] = _REASONS["torchvision_stub"]
    return dict(APPLIED)


# ----------------------------------------------------------------------------------------------
# Config overrides (pure dict manipulation: no mmcv needed, works on mmcv ConfigDict too).

def syncbn_to_bn(node: Any) -> int:
    """Replace every norm config {'type': 'SyncBN', ...} by {'type': 'BN', ...} in place, recursively.

    SyncBN needs a process group and CUDA; BN has the same parameter names/shapes and the same
    eval-mode math. Returns the number of replacements.
    """
    count = 0
    if isinstance(node, dict):
        if node.get("type") == "SyncBN":
            node["type"] = "BN"
            count += 1
        for value in node.values():
            count += syncbn_to_bn(value)
    elif isinstance(node, (list, tuple)):
        for value in node:
            count += syncbn_to_bn(value)
    return count


def cpu_inference_config(model_cfg: Any) -> Any:
    """Make an upstream `model` config build for CPU eval from a local checkpoint, in place.

    SyncBN -> BN everywhere, `pretrained` = None (no ImageNet download), backbone `use_checkpoint`
    off (torch.utils.checkpoint is training-only). Returns the same object.
    """
    if not isinstance(model_cfg, dict):
        raise TypeError(f"model config must be a dict, not {type(model_cfg).__name__}")
    syncbn_to_bn(model_cfg)
    model_cfg["pretrained"] = None
    backbone = model_cfg.get("backbone")
    if isinstance(backbone, dict):
        if "pretrained" in backbone:
            backbone["pretrained"] = None
        if "use_checkpoint" in backbone:
            backbone["use_checkpoint"] = False
    return model_cfg
