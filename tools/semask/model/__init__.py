"""Stage 2: the network (`network.py`), checkpoints, weights download and the static ONNX export.

`from semask.model import build_model` is the public model API; it is resolved lazily so that
importing a sibling module (say `semask.model.weights`) does not pay for torch.
"""
from __future__ import annotations

from typing import Any


def __getattr__(name: str) -> Any:
    if name in ("build_model", "model_config", "SeMaskFPN", "SeMaskConfig", "PRESETS"):
        from semask.model import network

        return getattr(network, name)
    raise AttributeError(f"module 'semask.model' has no attribute {name!r}")
