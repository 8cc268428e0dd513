"""The logit SQNR of an OpenVINO precision (bf16, int8) against OpenVINO fp32 on the run's own frames.

Why: label agreement on random weights says little (tiny top-2 margins); the SQNR of the logits does
not depend on the margins. Both sessions get the classifier's output (semask.model.logits) as an
extra output; the first SQNR_FRAMES bins in natural order are run through fp32, then through the
precision, and compared (padding slots of a partial batch excluded). The kit refuses a precision whose
SQNR is below its floor (spec.SQNR_FLOORS_DB): the int8 IR is not published, the run stops.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from semask.core.errors import KitError
from semask.backends import batching
from semask.model.sqnr import SqnrSum, as_json, meets_floor
from semask.spec import SQNR_FLOORS_DB, SQNR_FRAMES


@dataclass(frozen=True)
class SqnrSpec:
    """What is compared: the fp32 ONNX, the run's bins and BS, the precision (int8: its IR's .xml)."""

    onnx: Path
    bins_dir: Path
    batch_size: int
    precision: str
    model: Path | None = None  # what runs at `precision` (default: the ONNX)
    frames: int = SQNR_FRAMES
    threads: int | None = None


def _run(model: Path, precision: str, spec: SqnrSpec, name: str, tensor: str,
         batches: list[tuple[np.ndarray, int]]) -> list[tuple[np.ndarray, np.ndarray]]:
    from semask.backends.openvino.runtime import Session

    session = Session(model, precision, spec.threads, extra_output=tensor)
    names = [set(o.get_names()) for o in session.outputs]
    at = next(i for i, n in enumerate(names) if tensor in n)
    out = []
    for x, real in batches:
        results = session.run(None, {name: x})
        out.append((results[0][:real].copy(), results[at][:real].astype(np.float32, copy=True)))
    return out


def compare(spec: SqnrSpec) -> dict[str, Any]:
    """The precision's logit SQNR (dB) and label agreement against fp32 on the first frames."""
    import onnx

    from semask.model.logits import logits_tail
    from semask.model.onnx_io import single_input

    tensor = logits_tail(onnx.load(str(spec.onnx), load_external_data=False).graph).tensor
    inp, _ = single_input(spec.onnx, spec.batch_size)
    batches = batching.first_frames(spec.bins_dir, spec.frames, tuple(inp.shape), inp.dtype)
    ref = _run(spec.onnx, "fp32", spec, inp.name, tensor, batches)
    got = _run(spec.model or spec.onnx, spec.precision, spec, inp.name, tensor, batches)
    total, same, pixels = SqnrSum(), 0, 0
    for (ref_labels, ref_logits), (labels, logits) in zip(ref, got):
        total.add(ref_logits, logits)
        same += int((ref_labels == labels).sum())
        pixels += ref_labels.size
    floor = SQNR_FLOORS_DB.get(spec.precision)
    return {"precision": spec.precision, "reference": "openvino fp32", "frames": sum(r for _, r in batches),
            "logits": tensor, "sqnr_db": as_json(total.db), "label_agreement": same / pixels if pixels else None,
            "floor_db": floor, "passed": floor is None or meets_floor(total.db, floor),
            "definition": "10*log10(sum ref^2 / sum (ref - x)^2) over the classifier's logits, float64"}


def refuse_below_floor(result: dict[str, Any]) -> None:
    """One line when the SQNR is below the precision's floor (NaN included)."""
    if result["passed"]:
        return
    value = result["sqnr_db"]
    shown = "NaN (non-finite logits)" if value is None else f"{value} dB"
    raise KitError(f"PRECISION={result['precision']}: the logit SQNR against fp32 on the first {result['frames']} "
                   f"frames is {shown}, below the kit's floor of {result['floor_db']:g} dB; use PRECISION=fp32"
                   + (" or a larger CALIB" if result["precision"] == "int8" else ""))


def line(result: dict[str, Any]) -> str:
    value = result["sqnr_db"]
    agree = result["label_agreement"]
    return (f"logit SQNR {result['precision']} vs fp32: {value if value is not None else 'NaN'} dB over "
            f"{result['frames']} frames (floor {result['floor_db']}), label agreement "
            f"{'-' if agree is None or math.isnan(agree) else f'{100 * agree:.2f} %'}")


def checked(spec: SqnrSpec) -> dict[str, Any] | None:
    """A run's SQNR record (None for fp32, the reference itself): printed, and refused below the floor."""
    if spec.precision == "fp32":
        return None
    result = compare(spec)
    print(line(result), flush=True)
    refuse_below_floor(result)
    return result


def sqnr_record(onnx: Path | str, bins_dir: Path | str, batch_size: int, precision: str,
                int8_ir: Path | str | None = None) -> dict[str, Any] | None:
    """`checked` for a step's arguments: int8 runs the IR its sidecar names (verified first)."""
    model = None
    if precision == "int8" and int8_ir is not None:
        from semask.backends.openvino.ir import resolve_ir

        model = resolve_ir(int8_ir, onnx)
        recorded = _recorded(Path(int8_ir), Path(bins_dir), batch_size)
        if recorded is not None:
            print(line(recorded), flush=True)
            refuse_below_floor(recorded)
            return recorded
    return checked(SqnrSpec(Path(onnx), Path(bins_dir), batch_size, precision, model=model))


def _recorded(sidecar: Path, bins_dir: Path, batch_size: int) -> dict[str, Any] | None:
    """The SQNR the quantisation measured before publishing the IR (its sidecar), when it was measured exactly as
    a run would measure it again: the same bins (their manifest's sha256), BS and frame count. The IR and its source
    ONNX were verified by the caller, so infer and perf do not run fp32 and int8 over the same frames again."""
    from semask.core.fsio import load_json, sha256_file
    from semask.core.manifest import BINS_MANIFEST

    info = load_json(sidecar)
    result = info.get("logit_sqnr") if isinstance(info, dict) else None
    manifest = bins_dir / BINS_MANIFEST
    if (not isinstance(result, dict) or info.get("batch_size") != batch_size or not manifest.is_file()
            or info.get("bins_manifest_sha256") != sha256_file(manifest)
            or result.get("frames") != min(SQNR_FRAMES, len(batching.list_input_files(bins_dir)))):
        return None
    return result
