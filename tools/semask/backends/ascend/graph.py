"""Make the simplified graph ATC-friendly without changing what it computes.

Why (CANN's ATC ONNX operator constraints, "支持ONNX算子清单" on hiascend.com):
- torch >= 2 writes Resize with coordinate_transformation_mode=half_pixel, torch 1.x wrote
  pytorch_half_pixel. At least one published ATC ONNX Resize parser honours half-pixel centres only for
  `pytorch_half_pixel` and reads `half_pixel` as asymmetric: the .om would compile and silently shift
  every upsample. The two modes differ only on an axis whose output length is 1 (pytorch_half_pixel then
  samples coordinate 0), so the rewrite is exact wherever every resized axis has output length > 1 or
  keeps its input length; other nodes are left alone and listed.
- ATC's Gather takes int32 or int64 indices but no negative ones. Constant indices are stored as int32
  (ONNX allows both), after mapping any negative index to its positive equivalent when the gathered
  axis' length is known; indices that cannot be made safe are left alone and listed.

Where it applies: only to the graph that goes to atc (`<stem>_sim_atc.onnx`, made from `<stem>_sim.onnx`
by tools/atc_graph.py); the ORT path keeps running `<stem>_sim.onnx` byte for byte. Measured: the Resize
rewrite is exact in ONNX Runtime with graph optimisations off, but with them on (the default) ORT takes a
different kernel path and logits move by up to ~1e-6 (reduced model), so sharing the rewritten graph would
change the ORT path's outputs at near-ties. The export's ONNX Runtime-vs-PyTorch verification runs on the
final atc graph, and its sidecar records both rewrites.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import numpy_helper, shape_inference

HALF_PIXEL, PYTORCH_HALF_PIXEL = b"half_pixel", b"pytorch_half_pixel"
INT32_MAX = np.iinfo(np.int32).max


def _shapes(model: onnx.ModelProto) -> dict[str, list[int]]:
    """Static shapes of every value ONNX shape inference can name."""
    inferred = shape_inference.infer_shapes(model)
    out: dict[str, list[int]] = {}
    for vi in [*inferred.graph.value_info, *inferred.graph.input, *inferred.graph.output]:
        dims = vi.type.tensor_type.shape.dim
        if dims and all(d.HasField("dim_value") for d in dims):
            out[vi.name] = [d.dim_value for d in dims]
    for init in model.graph.initializer:
        out[init.name] = list(init.dims)
    return out


def _constants(model: onnx.ModelProto) -> dict[str, np.ndarray]:
    values = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    for node in model.graph.node:
        if node.op_type == "Constant" and node.attribute and node.attribute[0].name == "value":
            values[node.output[0]] = numpy_helper.to_array(node.attribute[0].t)
    return values


def _resize_safe(node: onnx.NodeProto, shapes: dict[str, list[int]]) -> bool:
    """True when half_pixel == pytorch_half_pixel for this node: no resized axis ends at length 1."""
    src, dst = shapes.get(node.input[0]), shapes.get(node.output[0])
    if src is None or dst is None or len(src) != len(dst):
        return False
    return all(o > 1 or o == i for i, o in zip(src, dst))


def rewrite_resize(model: onnx.ModelProto, shapes: dict[str, list[int]]) -> dict[str, Any]:
    changed, kept = 0, []
    for node in model.graph.node:
        if node.op_type != "Resize":
            continue
        for attr in node.attribute:
            if attr.name == "coordinate_transformation_mode" and attr.s == HALF_PIXEL:
                if _resize_safe(node, shapes):
                    attr.s = PYTORCH_HALF_PIXEL
                    changed += 1
                else:
                    kept.append(node.name or node.output[0])
    return {"rewritten": changed, "kept": kept}


def gather_indices_int32(model: onnx.ModelProto, shapes: dict[str, list[int]]) -> dict[str, Any]:
    """Store constant Gather indices as int32 initializers (non-negative); the rest is listed as kept."""
    consts = _constants(model)
    graph_outputs = {o.name for o in model.graph.output}
    new_inits: dict[str, onnx.TensorProto] = {}
    converted, normalised, kept = 0, 0, []
    for node in model.graph.node:
        if node.op_type != "Gather" or len(node.input) < 2:
            continue
        name = node.input[1]
        idx = consts.get(name)
        if idx is None or idx.dtype != np.int64:
            if idx is None:
                kept.append(node.name or node.output[0])
            continue
        axis = next((a.i for a in node.attribute if a.name == "axis"), 0)
        data_shape = shapes.get(node.input[0])
        fixed = idx
        if (idx < 0).any():
            if data_shape is None:
                kept.append(node.name or node.output[0])
                continue
            fixed = np.where(idx < 0, idx + data_shape[axis], idx)
            normalised += 1
        out_of_range = data_shape is not None and bool((fixed >= data_shape[axis]).any())
        if out_of_range or (fixed.size and int(fixed.max()) > INT32_MAX):
            kept.append(node.name or node.output[0])
            continue
        new_name = f"{name}_int32"
        if new_name not in new_inits:
            new_inits[new_name] = numpy_helper.from_array(fixed.astype(np.int32), new_name)
        node.input[1] = new_name
        converted += 1
    model.graph.initializer.extend(new_inits.values())
    # drop int64 index tensors nothing uses any more
    still_used = {n for node in model.graph.node for n in node.input} | graph_outputs
    keep = [i for i in model.graph.initializer if i.name in still_used]
    del model.graph.initializer[:]
    model.graph.initializer.extend(keep)
    dead = [n for n in model.graph.node if n.op_type == "Constant" and n.output[0] not in still_used]
    for node in dead:
        model.graph.node.remove(node)
    return {"converted": converted, "negative_normalised": normalised, "kept": kept}


def atc_friendly(model: onnx.ModelProto) -> tuple[onnx.ModelProto, dict[str, Any]]:
    """The rewritten graph (a copy) and what was done, for the ONNX sidecar."""
    out = onnx.ModelProto()
    out.CopyFrom(model)
    shapes = _shapes(out)
    record = {"resize_half_pixel_to_pytorch_half_pixel": rewrite_resize(out, shapes),
              "gather_indices_int32": gather_indices_int32(out, shapes)}
    return out, record


def write_atc_graph(sim: Path, out: Path, verify: bool = True, threads: int = 0) -> dict[str, Any]:
    """`sim` rewritten by atc_friendly into `out` (+ sidecar), verified against PyTorch like the export."""
    import time

    from semask.core.errors import KitError
    from semask.core.fsio import sha256_bytes
    from semask.model.export import assert_static, graph_summary, verify_onnx
    from semask.model.onnx_io import publish_onnx, read_sidecar

    sim, out = Path(sim), Path(out)
    meta = read_sidecar(sim, "run `make onnx` to export and simplify it")
    if not sim.is_file():
        raise KitError(f"{sim} does not exist; run `make onnx` first")
    started = time.perf_counter()
    proto, record = atc_friendly(onnx.load(str(sim)))
    assert_static(proto, out)
    onnx.checker.check_model(proto)
    verification = verify_onnx(proto, meta, threads=threads) if verify else {"skipped": True}
    data = proto.SerializeToString()
    side = dict(meta, kind="onnx-atc", source=str(sim), source_sha256=meta.get("sha256"), sha256=sha256_bytes(data),
                ascend_graph=record, verification=verification, rewrite_seconds=round(time.perf_counter() - started, 2),
                **graph_summary(proto), bytes=len(data))
    publish_onnx(out, data, side)  # sidecar first, the .onnx (make target) last
    return side
