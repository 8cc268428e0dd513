"""What a model file takes and returns: ONNX graph inputs/outputs, and the JSON sidecar beside every
.onnx and .om.

Why one module: the export writes the sidecar, ONNX Runtime and atc read the graph's inputs, and the
Ascend runner reads the OM's sidecar; none of them should import another backend to do so.
numpy and onnx are imported where used: the environment check imports the Ascend module (and so
this one) before the venv's packages are known to be there.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from semask.core.errors import KitError
from semask.core.fsio import atomic_write_bytes, atomic_write_json

if TYPE_CHECKING:
    import numpy as np


@dataclass(frozen=True)
class TensorSpec:
    """Name, static shape (None for a symbolic dim) and numpy dtype of a model input/output."""

    name: str
    shape: tuple[int | None, ...]
    dtype: np.dtype

    @property
    def nbytes(self) -> int | None:
        import numpy as np

        if any(d is None for d in self.shape):
            return None
        return int(np.prod(self.shape, dtype=np.int64)) * self.dtype.itemsize


def _spec(value_info: Any) -> TensorSpec:
    import numpy as np
    from onnx import helper

    ttype = value_info.type.tensor_type
    dims = tuple(d.dim_value if d.HasField("dim_value") else None for d in ttype.shape.dim)
    return TensorSpec(value_info.name, dims, np.dtype(helper.tensor_dtype_to_np_dtype(ttype.elem_type)))


def onnx_io(model: Path | str) -> tuple[list[TensorSpec], list[TensorSpec]]:
    """Graph inputs (minus initializers) and outputs of an ONNX file, without its weights' data."""
    import onnx

    model = Path(model)
    if not model.is_file():
        raise KitError(f"ONNX model {model} does not exist; run the export step first")
    try:
        proto = onnx.load(str(model), load_external_data=False)
    except Exception as exc:  # protobuf decode errors have no common type
        raise KitError(f"cannot read ONNX model {model}: {exc}; re-export it") from None
    inits = {i.name for i in proto.graph.initializer}
    inputs = [_spec(v) for v in proto.graph.input if v.name not in inits]
    outputs = [_spec(v) for v in proto.graph.output]
    return inputs, outputs


def single_input(model: Path | str, batch_size: int) -> tuple[TensorSpec, list[TensorSpec]]:
    """The model's one input, checked against `batch_size` (static batch dim required)."""
    inputs, outputs = onnx_io(model)
    if len(inputs) != 1:
        raise KitError(f"{model} has {len(inputs)} inputs ({[i.name for i in inputs]}); the kit expects one (image)")
    spec = inputs[0]
    if not spec.shape or spec.shape[0] != batch_size or spec.nbytes is None:
        raise KitError(
            f"{model} input {spec.name!r} has shape {list(spec.shape)} but BS={batch_size}; "
            f"export an ONNX for batch size {batch_size} (one static-shape model per batch size) or fix BS"
        )
    return spec, outputs


# ---------------------------------------------------------------- sidecars

def sidecar_path(artifact: Path | str) -> Path:
    """`<stem>.json` next to an .onnx or .om: the facts later steps read instead of parsing names."""
    return Path(artifact).with_suffix(".json")


def write_sidecar(artifact: Path | str, info: dict[str, Any]) -> None:
    """Write the sidecar atomically; callers publish the artifact itself after it (it is the make target)."""
    atomic_write_json(sidecar_path(artifact), info)


def publish_onnx(out: Path | str, data: bytes, info: dict[str, Any]) -> None:
    """Write the sidecar, then the serialised graph, both atomically: the .onnx is the make target, so a
    run killed in between never leaves a graph that looks done but has no sidecar."""
    write_sidecar(out, info)
    atomic_write_bytes(out, data)


def read_sidecar(artifact: Path | str, remedy: str) -> dict[str, Any]:
    """The sidecar of `artifact`; KitError with `remedy` (how to make it) when missing or unreadable."""
    side = sidecar_path(artifact)
    if not side.is_file():
        raise KitError(f"{side} is missing (it describes {artifact}); {remedy}")
    try:
        info = json.loads(side.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise KitError(f"{side} is unreadable ({exc}); {remedy}") from None
    if not isinstance(info, dict):
        raise KitError(f"{side} does not hold a JSON object; {remedy}")
    return info
