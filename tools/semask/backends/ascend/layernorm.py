"""Did atc fuse the graph's LayerNorms? (issue 25 §6)

Why: ATC's LayerNormONNXFusionPass turns the exported pattern (x - mean feeding both Pow(.., 2) and Div) into one
LayerNorm op; an unfused LayerNorm runs as ReduceMean/Sub/Pow/Div in fp16, where the variance loses precision (the
ConvNeXt 310P guide keeps exactly these ops in fp32). The kit counts the patterns in the ONNX it compiles and the
LayerNorm ops in atc's `--mode=1` JSON of the .om, and warns when fewer were fused.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable


def onnx_layernorm_patterns(onnx_path: Path | str) -> int:
    """Sub nodes whose output feeds both a Pow and a Div: the exported LayerNorm's shape."""
    import onnx

    graph = onnx.load(str(onnx_path), load_external_data=False).graph
    consumers: dict[str, set[str]] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, set()).add(node.op_type)
    return sum(1 for node in graph.node if node.op_type == "Sub"
               and {"Pow", "Div"} <= set().union(*(consumers.get(o, set()) for o in node.output)))


def fused_layernorms(ops: Iterable[dict[str, Any]]) -> int:
    """LayerNorm ops (any LayerNorm* type) in atc's OM JSON."""
    return sum(1 for op in ops if str(op.get("type", "")).startswith("LayerNorm"))


def layernorm_record(patterns: int, fused: int | None) -> dict[str, Any]:
    """The sidecar's record and, when fewer were fused than exported, the warning line."""
    warning = None
    if fused is not None and fused < patterns:
        warning = (f"warning: atc fused {fused} of the graph's {patterns} LayerNorm patterns (LayerNormONNXFusionPass); "
                   "the other ones run as ReduceMean/Sub/Pow/Div in fp16 and lose precision; KEEP_DTYPE=<a config "
                   "listing their Pow and ReduceMean ops> keeps them in fp32 (docs/ASCEND_HOST.md)")
    return {"onnx_patterns": patterns, "fused": fused, "warning": warning}
