"""The int8 IR's sidecar, checked before every use: the IR files' sha256 and the ONNX they were quantised from.

Why: make trusts mtimes; an IR copied over another run's, or quantised from another graph, must not be
run and credited to this one (the ONNX and OM get the same check: semask.backends.model_check).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from semask.core.errors import KitError
from semask.core.fsio import sha256_file

KIND = "openvino-int8-ir"
REBUILD = "delete it and run make again, which rebuilds the int8 IR"


def resolve_ir(sidecar: Path | str, onnx_path: Path | str, info: dict[str, Any] | None = None) -> Path:
    """The IR's .xml after checking it against its sidecar: both files' sha256 and the source ONNX's."""
    sidecar = Path(sidecar)
    try:
        info = info or json.loads(sidecar.read_text())
    except (OSError, ValueError):
        raise KitError(f"the int8 IR's sidecar {sidecar} is missing or unreadable; run `make` with PRECISION=int8 "
                       "again, which quantises the graph") from None
    if info.get("kind") != KIND:
        raise KitError(f"{sidecar} is not an int8 IR sidecar; {REBUILD}")
    xml, binf = sidecar.parent / info["xml"], sidecar.parent / info["bin"]
    for path, key in ((xml, "xml_sha256"), (binf, "bin_sha256")):
        if not path.is_file() or sha256_file(path) != info.get(key):
            raise KitError(f"the int8 IR {path} is missing or changed since it was quantised ({sidecar} records "
                           f"another sha256); {REBUILD}")
    if sha256_file(onnx_path) != info.get("onnx_sha256"):
        raise KitError(f"the int8 IR {xml.name} was quantised from another graph than {onnx_path}; {REBUILD}")
    return xml


def source_onnx(sidecar: Path | str) -> str:
    """The ONNX an int8 IR was quantised from (recorded in its sidecar, beside it)."""
    try:
        info = json.loads(Path(sidecar).read_text())
        return str(Path(sidecar).parent / info["onnx"])
    except (OSError, ValueError, KeyError, TypeError):
        raise KitError(f"the int8 IR's sidecar {sidecar} is missing or unreadable; run `make` with PRECISION=int8 "
                       "again, which quantises the graph") from None
