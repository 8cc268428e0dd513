"""Where a kit graph's logits are: the classifier's output, and the ops that follow it (Resize, ArgMax).

Why: the deployed graphs output labels (ArgMax at the end, after a Resize to the dataset's size), but
precision work needs the logits: the logit SQNR compares them, NNCF must leave the classifier and what
follows it unquantised, and fp16-check rounds them. The classifier's output (before the final Resize,
at a quarter of the input size) is the tensor all three use; the Resize is a fixed bilinear map of it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from semask.core.errors import KitError


@dataclass(frozen=True)
class LogitsTail:
    """The logits tensor and the node names from the classifier to the output (classifier first)."""

    tensor: str
    classifier: str
    tail: tuple[str, ...]  # Resize/ArgMax/Cast nodes after the classifier, in graph order


def logits_tail(graph: Any) -> LogitsTail:
    """Find the classifier's output by walking back from the single ArgMax through Resize nodes."""
    producer = {out: node for node in graph.node for out in node.output}
    argmax = [n for n in graph.node if n.op_type == "ArgMax"]
    if len(argmax) == 1:
        node, tail = producer.get(argmax[0].input[0]), [argmax[0].name]
    else:  # a logits graph: its output is the logits
        if len(graph.output) != 1:
            raise KitError("the graph has no single ArgMax and no single output; it is not a kit graph")
        node, tail = producer.get(graph.output[0].name), []
    while node is not None and node.op_type == "Resize":
        tail.insert(0, node.name)
        node = producer.get(node.input[0])
    if node is None or node.op_type != "Conv":
        raise KitError("the graph's logits do not come from a Conv classifier; it is not a kit graph")
    after = [n.name for n in graph.node if n.op_type == "Cast" and n.input[0] in
             {o for m in graph.node if m.name in tail for o in m.output}]
    return LogitsTail(node.output[0], node.name, tuple(tail + after))
