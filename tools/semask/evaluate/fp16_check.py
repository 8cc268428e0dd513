"""`make fp16-check`: the 310P's force_fp16 numerics predicted on the CPU, and the ops to keep in fp32.

Why: fp16 on the NPU cost 0.59 mIoU and nobody can say which ops cost it without an NPU. The cube unit
takes fp16 inputs, accumulates in fp32 and writes fp16, so rounding every float tensor between ops to
fp16 imitates it, including overflows (a decomposed LayerNorm's (x-u)^2 above 65504). This inserts a
Cast(FLOAT16) -> Cast(FLOAT) round trip after every op output of the ATC graph and runs it with ONNX
Runtime on the run's frames (weights stay fp32: only the tensors between ops are rounded).

Against the fp32 graph it reports the logit SQNR and label agreement, ranks the ops (one op's round
trip removed at a time, or one op type's on graphs with more than GROUP_BY_TYPE_ABOVE rounded outputs,
to bound the time) and greedily keeps the most costly ones in fp32 until the SQNR is within 1 dB of
"fp32-only rounding": fp16's 11-bit significand with fp32's range (Veltkamp's split, t = 8193*x,
t - (t - x), rounds to 11 bits without overflow), the part of fp16's cost keep_dtype cannot remove.
The list is written as a ready atc --keep_dtype cfg (one node name per line), which `make om KEEP_DTYPE=<cfg>`
compiles with.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from semask.core.errors import KitError
from semask.core.fsio import atomic_write_json, atomic_write_text, ensure_writable_dir
from semask.model.sqnr import SqnrSum, as_json
from semask.spec import FP16_CHECK_FRAMES

GROUP_BY_TYPE_ABOVE = 200  # rounded outputs; above it the ops are ranked by type (one run per type, not per op)
TOP = 10
WITHIN_DB = 1.0
VELTKAMP = 8193.0  # 2**(24 - 11) + 1: splits a float32 into its leading 11 significant bits
FLOAT, FLOAT16 = 1, 10


@dataclass(frozen=True)
class Fp16Spec:
    """The ATC graph, the run's bins and BS, how many frames, where the report and cfg go."""

    onnx: Path
    bins_dir: Path
    batch_size: int
    out_dir: Path
    frames: int = FP16_CHECK_FRAMES
    threads: int | None = None


@dataclass
class Graph:
    """The fp32 graph with its logits exposed, and the float op outputs that get a round trip."""

    proto: Any
    logits: str
    rounded: dict[str, str] = field(default_factory=dict)  # tensor -> producing node name
    op_type: dict[str, str] = field(default_factory=dict)  # node name -> op type


def load_graph(path: Path) -> Graph:
    """The graph with the classifier's logits as an extra output, and its float op outputs."""
    import onnx

    from semask.model.logits import logits_tail

    proto = onnx.load(str(path))
    tail = logits_tail(proto.graph)
    inferred = onnx.shape_inference.infer_shapes(proto)
    types = {v.name: v.type.tensor_type.elem_type for v in
             [*inferred.graph.value_info, *inferred.graph.output, *inferred.graph.input]}
    if tail.tensor not in {o.name for o in proto.graph.output}:
        proto.graph.output.append(onnx.helper.make_tensor_value_info(tail.tensor, FLOAT, None))
    graph = Graph(proto, tail.tensor)
    for node in proto.graph.node:
        graph.op_type[node.name] = node.op_type
        for out in node.output:
            if out and types.get(out) == FLOAT:
                graph.rounded[out] = node.name
    if not all(node.name for node in proto.graph.node):
        raise KitError(f"{path} has unnamed nodes; fp16-check (and atc's --keep_dtype) needs node names")
    return graph


def rounded_model(graph: Graph, mode: str, keep: frozenset[str] = frozenset()) -> bytes:
    """The graph with a rounding after every float op output except those of `keep` (node names):
    mode 'fp16' (Cast round trip) or 'mantissa' (11 significant bits, fp32 range)."""
    import onnx
    from onnx import helper

    model = onnx.ModelProto()
    model.CopyFrom(graph.proto)
    nodes = []
    if mode == "mantissa":
        model.graph.initializer.append(onnx.numpy_helper.from_array(np.array(VELTKAMP, np.float32), "fp16chk_C"))
    for node in model.graph.node:
        nodes.append(node)
        if node.name in keep:
            continue
        for i, out in enumerate(node.output):
            if out not in graph.rounded:
                continue
            raw = f"{out}__fp32"
            node.output[i] = raw
            if mode == "fp16":
                nodes += [helper.make_node("Cast", [raw], [f"{out}__fp16"], f"{node.name}__to16_{i}", to=FLOAT16),
                          helper.make_node("Cast", [f"{out}__fp16"], [out], f"{node.name}__to32_{i}", to=FLOAT)]
            else:
                nodes += [helper.make_node("Mul", [raw, "fp16chk_C"], [f"{out}__t"], f"{node.name}__vt_{i}"),
                          helper.make_node("Sub", [f"{out}__t", raw], [f"{out}__d"], f"{node.name}__vd_{i}"),
                          helper.make_node("Sub", [f"{out}__t", f"{out}__d"], [out], f"{node.name}__vh_{i}")]
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    return model.SerializeToString()


class Runner:
    """Runs graph variants on the same frames and scores them against the fp32 graph's logits."""

    def __init__(self, graph: Graph, batches: list[tuple[np.ndarray, int]], input_name: str, threads: int | None):
        self.graph, self.batches, self.input_name, self.threads = graph, batches, input_name, threads
        self.runs = 0
        self.reference = self._run(graph.proto.SerializeToString())

    def _run(self, model: bytes) -> list[tuple[np.ndarray, np.ndarray]]:
        from semask.model.ort_session import make_session

        session = make_session(model, "cpu", threads=self.threads, exact=True)
        names = [o.name for o in session.get_outputs()]
        at = names.index(self.graph.logits)
        out = []
        for x, real in self.batches:
            results = session.run(None, {self.input_name: x})
            out.append((results[0][:real], results[at][:real].astype(np.float32)))
        self.runs += 1
        return out

    def score(self, mode: str, keep: frozenset[str] = frozenset()) -> tuple[float, float]:
        """(logit SQNR dB, label agreement) of a rounded variant."""
        total, same, pixels = SqnrSum(), 0, 0
        for (ref_labels, ref), (labels, logits) in zip(self.reference, self._run(rounded_model(self.graph, mode, keep))):
            total.add(ref, logits)
            same += int((ref_labels == labels).sum())
            pixels += ref_labels.size
        return total.db, same / pixels if pixels else math.nan


def _order(value: float) -> float:
    return -math.inf if math.isnan(value) else value


def rank(runner: Runner, groups: dict[str, frozenset[str]]) -> list[dict[str, Any]]:
    """Each group's (op or op type) SQNR with its round trips removed, best first."""
    rows = []
    for name, nodes in groups.items():
        db, agree = runner.score("fp16", nodes)
        rows.append({"name": name, "nodes": sorted(nodes), "sqnr_db_without": db, "label_agreement_without": agree})
    rows.sort(key=lambda r: _order(r["sqnr_db_without"]), reverse=True)
    return rows


def groups_of(graph: Graph) -> tuple[str, dict[str, frozenset[str]]]:
    """('op', one group per rounded node) or ('op type', one per type) on big graphs."""
    producers = sorted(set(graph.rounded.values()), key=list(graph.op_type).index)
    if len(graph.rounded) <= GROUP_BY_TYPE_ABOVE:
        return "op", {n: frozenset([n]) for n in producers}
    by_type: dict[str, set[str]] = {}
    for n in producers:
        by_type.setdefault(graph.op_type[n], set()).add(n)
    return "op type", {t: frozenset(v) for t, v in by_type.items()}


def greedy_keep(runner: Runner, ranking: Sequence[dict[str, Any]], target: float, start: float) -> dict[str, Any]:
    """Keep the most costly groups in fp32, in ranking order, until the SQNR is within WITHIN_DB of target."""
    keep: set[str] = set()
    kept: list[str] = []
    db = start
    for row in ranking[:2 * TOP]:  # bounded: each step is one run over the frames
        if _order(db) >= target - WITHIN_DB:
            break
        keep |= set(row["nodes"])
        kept.append(row["name"])
        db, _ = runner.score("fp16", frozenset(keep))
    return {"groups": kept, "nodes": sorted(keep, key=list(runner.graph.op_type).index), "sqnr_db": db,
            "reached": _order(db) >= target - WITHIN_DB}


def check(spec: Fp16Spec) -> dict[str, Any]:
    """The whole check; writes fp16_check.json, fp16_check.md and keep_dtype.cfg under spec.out_dir."""
    from semask.backends.batching import first_frames
    from semask.model.onnx_io import single_input

    started = time.monotonic()
    graph = load_graph(spec.onnx)
    inp, _ = single_input(spec.onnx, spec.batch_size)
    batches = first_frames(spec.bins_dir, spec.frames, tuple(inp.shape), inp.dtype)
    runner = Runner(graph, batches, inp.name, spec.threads)
    fp16_db, fp16_agree = runner.score("fp16")
    target, target_agree = runner.score("mantissa")
    how, groups = groups_of(graph)
    print(f"[fp16-check] force_fp16 imitation: logit SQNR {as_json(fp16_db)} dB, labels {100 * fp16_agree:.3f} % "
          f"(fp32-only rounding: {as_json(target)} dB); ranking {len(groups)} {how}s", flush=True)
    ranking = rank(runner, groups)
    keep = greedy_keep(runner, ranking, target, fp16_db)
    result = {
        "graph": str(spec.onnx), "frames": sum(r for _, r in batches), "logits": graph.logits,
        "rounded_outputs": len(graph.rounded), "ranked_by": how,
        "fp16": {"sqnr_db": as_json(fp16_db), "label_agreement": fp16_agree},
        "fp32_only_rounding": {"sqnr_db": as_json(target), "label_agreement": target_agree},
        "top": [{**r, "sqnr_db_without": as_json(r["sqnr_db_without"]), "nodes": r["nodes"][:20],
                 "node_count": len(r["nodes"])} for r in ranking[:TOP]],
        "keep_dtype": {"groups": keep["groups"], "node_count": len(keep["nodes"]), "sqnr_db": as_json(keep["sqnr_db"]),
                       "reached": keep["reached"], "within_db": WITHIN_DB},
        "runs": runner.runs, "seconds": round(time.monotonic() - started, 1),
    }
    write(spec.out_dir, result, keep["nodes"])
    return result


def write(out_dir: Path, result: dict[str, Any], nodes: Sequence[str]) -> None:
    """keep_dtype.cfg (atc --keep_dtype: one node name per line), fp16_check.json and .md."""
    ensure_writable_dir(out_dir, "fp16-check folder")
    cfg = out_dir / "keep_dtype.cfg"
    atomic_write_text(cfg, "".join(f"{n}\n" for n in nodes))
    result["keep_dtype"]["cfg"] = str(cfg)
    atomic_write_json(out_dir / "fp16_check.json", result)
    atomic_write_text(out_dir / "fp16_check.md", render(result))


def render(result: dict[str, Any]) -> str:
    """The report a user reads: the prediction, the costly ops, the keep list and how to use it."""
    keep = result["keep_dtype"]
    lines = [f"# fp16-check: {Path(result['graph']).name}", "",
             f"force_fp16 imitated on the CPU ({result['rounded_outputs']} op outputs rounded to fp16) over "
             f"{result['frames']} frames, against the fp32 graph:", "",
             f"- fp16: logit SQNR {result['fp16']['sqnr_db']} dB, label agreement "
             f"{100 * result['fp16']['label_agreement']:.3f} %",
             f"- fp32-only rounding (fp16's significand, fp32's range): {result['fp32_only_rounding']['sqnr_db']} dB",
             f"- keeping {len(keep['groups'])} {result['ranked_by']}(s) ({keep['node_count']} nodes) in fp32: "
             f"{keep['sqnr_db']} dB" + ("" if keep["reached"] else f" (not within {keep['within_db']:g} dB)"), "",
             f"Ops whose rounding costs most (SQNR with that {result['ranked_by']}'s round trips removed):", "",
             "| # | " + result["ranked_by"] + " | nodes | SQNR without (dB) |", "|---|---|---|---|"]
    lines += [f"| {i} | {r['name']} | {r['node_count']} | {r['sqnr_db_without']} |" for i, r in enumerate(result["top"], 1)]
    use = (f"Compile with it: `make om KEEP_DTYPE={keep['cfg']}` (atc `--keep_dtype`, with force_fp16)."
           if keep["node_count"] else "Nothing to keep: force_fp16 is already within "
           f"{keep['within_db']:g} dB of fp32-only rounding on these frames (the cfg is empty).")
    lines += ["", use, "",
              f"{result['runs']} graph runs in {result['seconds']} s.", ""]
    return "\n".join(lines)
