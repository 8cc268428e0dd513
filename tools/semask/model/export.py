"""Static ONNX export of SeMask-FPN, onnxsim simplification, and ORT-vs-PyTorch verification.

The exported graph has a fixed batch and image size (one ONNX/OM per batch size, as ATC wants),
takes `image` and returns `output`. A JSON sidecar next to every .onnx says what it holds, so
later steps read facts instead of guessing from file names.
"""
from __future__ import annotations

import collections
import io
import time
import warnings
from pathlib import Path
from typing import Any, Callable, Dict, Optional

import numpy as np
import onnx
import torch
from torch import nn

from semask.model.checkpoint import load_weights
from semask.core.errors import KitError, not_one_of, not_positive_int
from semask.core.memory import memory_guard
from semask.model.size import check_size
from semask.core.fsio import sha256_bytes
from semask.model.network import build_model, input_normalizer
from semask.model.onnx_io import publish_onnx, read_sidecar
from semask.spec import (ATOL, DEFAULT_INPUT_DTYPE, DEFAULT_LABEL_DTYPE, DEFAULT_OPSET, INPUT_DTYPES, LABEL_DTYPES, MARGIN,
                         NATIVE_HEIGHT, NATIVE_WIDTH, NUM_CLASSES, OUTPUT_KINDS)

INPUT_NAME, OUTPUT_NAME = "image", "output"
SUPPORTED_OPSETS = range(DEFAULT_OPSET, 21)  # the opset ATC wants up to the newest the exporter is tried with
TORCH_LABEL_DTYPES = {name: getattr(torch, name) for name in LABEL_DTYPES}


class ExportWrapper(nn.Module):
    """What the deployed graph computes: optional in-graph normalisation, model, optional argmax."""

    def __init__(self, model: nn.Module, input_dtype: str, output: str, label_dtype: str,
                 out_size: tuple[int, int] | None = None) -> None:
        super().__init__()
        self.model, self.input_dtype, self.output, self.label_dtype = model, input_dtype, output, label_dtype
        self.out_size = out_size

    def logits(self, image: torch.Tensor) -> torch.Tensor:
        """(B, 19, H', W') float32: at the dataset's native size when `out_size` is set (upstream's
        rescale=True: bilinear, align_corners=False, before the argmax), else at the input size."""
        x = input_normalizer(image) if self.input_dtype == "uint8" else image
        logits = self.model(x)
        if self.out_size is not None and tuple(logits.shape[-2:]) != tuple(self.out_size):
            logits = nn.functional.interpolate(logits, size=tuple(self.out_size), mode="bilinear", align_corners=False)
        return logits

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        logits = self.logits(image)  # (B, 19, H, W) float32
        if self.output == "logits":
            return logits
        return logits.argmax(dim=1).to(TORCH_LABEL_DTYPES[self.label_dtype])  # (B, H, W)


def check_options(batch_size: int, height: int, width: int, input_dtype: str, output: str, label_dtype: str,
                  opset: int) -> None:
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
        raise KitError(not_positive_int("BS", batch_size, 1))
    check_size(height, width)  # the parse-time rule, again for callers that skip the Makefile
    if input_dtype not in INPUT_DTYPES:
        raise KitError(not_one_of("INPUT_DTYPE", input_dtype, INPUT_DTYPES))
    if output not in OUTPUT_KINDS:
        raise KitError(not_one_of("--output", output, OUTPUT_KINDS))
    if label_dtype not in LABEL_DTYPES:
        raise KitError(not_one_of("LABEL_DTYPE", label_dtype, LABEL_DTYPES))
    if opset not in SUPPORTED_OPSETS:
        raise KitError(f"--opset {opset} is outside {SUPPORTED_OPSETS[0]}..{SUPPORTED_OPSETS[-1]}; "
                       f"ATC wants {DEFAULT_OPSET} (the default)")


def _example_input(batch_size: int, height: int, width: int, input_dtype: str, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    if input_dtype == "uint8":
        return torch.randint(0, 256, (batch_size, 3, height, width), generator=gen, dtype=torch.uint8)
    return torch.randn(batch_size, 3, height, width, generator=gen)


def graph_summary(model_proto: onnx.ModelProto, path: Optional[Path] = None) -> Dict[str, Any]:
    """Node count, op histogram and size: the facts the summary line and benchmarks report."""
    ops = collections.Counter(n.op_type for n in model_proto.graph.node)
    summary = {"nodes": sum(ops.values()), "ops": dict(ops.most_common())}
    if path is not None:
        summary["bytes"] = path.stat().st_size
    return summary


def summary_line(summary: Dict[str, Any], path: Path) -> str:
    top = ", ".join(f"{op} {n}" for op, n in list(summary["ops"].items())[:6])
    return f"{path.name}: {summary['nodes']} nodes ({top}), {summary['bytes'] / 1e6:.1f} MB"


def assert_static(model_proto: onnx.ModelProto, where: Path, allow_shape: bool = False) -> None:
    """Fail if the graph computes sizes at run time or branches: ATC needs a fully static graph.

    A raw export may hold `Shape` feeding a non-integer Resize (odd input sizes only); onnxsim
    folds those, and the simplified graph is always checked strictly.
    """
    forbidden = {"If", "Loop", "NonZero"} | (set() if allow_shape else {"Shape", "Size"})
    bad = sorted({n.op_type for n in model_proto.graph.node} & forbidden)
    if bad:
        raise KitError(f"{where} is not a static graph (has {', '.join(bad)}); this is a kit bug, please report it")
    for value in list(model_proto.graph.input) + list(model_proto.graph.output):
        dims = value.type.tensor_type.shape.dim
        if any(not d.HasField("dim_value") for d in dims):
            raise KitError(f"{where}: {value.name} has a dynamic dimension; this is a kit bug, please report it")


def export_onnx(model_name: str, weights: str, out: Path, batch_size: int = 1, height: int = NATIVE_HEIGHT,
                width: int = NATIVE_WIDTH, opset: int = DEFAULT_OPSET, input_dtype: str = DEFAULT_INPUT_DTYPE,
                output: str = "labels", label_dtype: str = DEFAULT_LABEL_DTYPE, out_height: int | None = None,
                out_width: int | None = None,
                prepare: Optional[Callable[[nn.Module], Any]] = None) -> Dict[str, Any]:
    """Trace the model at a fixed size and write `out` (.onnx) plus `out`.json, both atomically.

    `out_height` x `out_width` (the dataset's native size, when the model runs at another size): the
    graph resizes its logits to it before the argmax, so predictions compare with native labels.
    `prepare` (default none) may adapt the loaded model before tracing; only the ORT-specific graph
    uses it (semask.model.ort_graph), so the Ascend export stays the plain network.
    """
    check_options(batch_size, height, width, input_dtype, output, label_dtype, opset)
    from semask.core.memory import measure_peak

    peaks: Dict[str, int] = {}
    with measure_peak("export", peaks):
        data, proto, winfo, started = _trace(model_name, weights, out, batch_size, height, width, opset, input_dtype,
                                             output, label_dtype, out_height, out_width, prepare)
    out_h, out_w = out_height or height, out_width or width
    meta = {
        "kind": "onnx", "model": model_name, "weights": winfo["weights"], "weights_sha256": winfo["sha256"],
        "trained_weights": winfo["trained"], "batch_size": batch_size, "height": height, "width": width,
        "opset": opset,
        "input": {"name": INPUT_NAME, "shape": [batch_size, 3, height, width], "dtype": input_dtype,
                  "layout": "NCHW", "normalized": input_dtype == "float32"},
        "output": {"name": OUTPUT_NAME, "kind": output,
                   "shape": [batch_size, NUM_CLASSES, out_h, out_w] if output == "logits" else [batch_size, out_h, out_w],
                   "dtype": "float32" if output == "logits" else label_dtype},
        "torch": torch.__version__, "onnx": onnx.__version__, "export_seconds": round(time.perf_counter() - started, 2),
        "sha256": sha256_bytes(data), **graph_summary(proto), "bytes": len(data), "peak_rss_bytes": peaks,
    }
    publish_onnx(out, data, meta)  # sidecar first, the .onnx (make target) last
    return meta


def _trace(model_name: str, weights: str, out: Path, batch_size: int, height: int, width: int, opset: int,
           input_dtype: str, output: str, label_dtype: str, out_height: int | None, out_width: int | None,
           prepare: Optional[Callable[[nn.Module], Any]]) -> tuple[bytes, onnx.ModelProto, Dict[str, Any], float]:
    """Build, load and trace the model; returns (serialised graph, checked proto, weights info, start time)."""
    out_h, out_w = out_height or height, out_width or width
    model = build_model(model_name)
    winfo = load_weights(model, weights)
    if prepare is not None:
        prepare(model)
    wrapper = ExportWrapper(model, input_dtype, output, label_dtype, (out_h, out_w)).eval()
    started = time.perf_counter()
    buffer = io.BytesIO()
    with memory_guard("the ONNX export (tracing the model on one batch)", batch_size), torch.no_grad(), \
            warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TracerWarnings about constant sizes are the point here
        example = _example_input(batch_size, height, width, input_dtype)
        torch.onnx.export(wrapper, (example,), buffer, opset_version=opset, dynamo=False, do_constant_folding=True,
                          input_names=[INPUT_NAME], output_names=[OUTPUT_NAME])
    proto = onnx.load_from_string(buffer.getvalue())
    onnx.checker.check_model(proto)
    assert_static(proto, out, allow_shape=True)
    return buffer.getvalue(), proto, winfo, started


def _outputs_only(proto: onnx.ModelProto) -> onnx.ModelProto:
    """A weightless copy of `proto`'s nodes and outputs (what `_with_logits_output` needs to find the logits)."""
    light = onnx.ModelProto()
    light.graph.node.extend(proto.graph.node)
    light.graph.output.extend(proto.graph.output)
    return light


def _with_logits_output(proto: onnx.ModelProto) -> onnx.ModelProto:
    """A copy of a labels graph that also exposes the ArgMax input (the logits), for verification."""
    copy = onnx.ModelProto()
    copy.CopyFrom(proto)
    argmax = [n for n in copy.graph.node if n.op_type == "ArgMax"]
    if len(argmax) != 1:
        raise KitError("verification expects exactly one ArgMax in a labels graph; this is a kit bug")
    copy.graph.output.append(onnx.helper.make_empty_tensor_value_info(argmax[0].input[0]))
    return copy


def verify_onnx(proto: onnx.ModelProto, meta: Dict[str, Any], seed: int = 1, threads: int = 0) -> Dict[str, Any]:
    """Run the graph with ONNX Runtime and the model with PyTorch on the same batch and compare.

    The crosscheck's rule (semask.model.agreement, PyTorch as the reference): logits within ATOL,
    and labels equal wherever the reference's top-1/top-2 margin exceeds MARGIN. PyTorch evaluates
    the first and last batch element (distinct images) to bound the cost at large BS.

    Memory (a bs8 1024x2048 graph is the largest step of the export): ORT runs first, without its
    arena, and only the checked items' logits and labels are kept; its session and outputs are gone
    before PyTorch builds the model, which then runs one image at a time.
    """
    with memory_guard("the export's verification (ONNX Runtime and PyTorch on one batch)", meta["batch_size"]):
        return _verify_onnx(proto, meta, seed, threads)


def _verify_onnx(proto: onnx.ModelProto, meta: Dict[str, Any], seed: int, threads: int) -> Dict[str, Any]:
    from semask.model.agreement import Agreement

    bs, h, w = meta["batch_size"], meta["height"], meta["width"]
    x = _example_input(bs, h, w, meta["input"]["dtype"], seed=seed)
    labels_graph = meta["output"]["kind"] == "labels"
    checked = sorted({0, bs - 1})
    ort_logits, ort_labels = _ort_items(proto, x.numpy(), labels_graph, checked, threads)
    model = build_model(meta["model"])
    load_weights(model, meta["weights"], quiet=True)
    wrapper = ExportWrapper(model, meta["input"]["dtype"], meta["output"]["kind"], meta["output"]["dtype"],
                            tuple(meta["output"]["shape"][-2:]))
    logits_check, labels_check = Agreement(atol=ATOL, margin=MARGIN), Agreement(atol=ATOL, margin=MARGIN)
    for i in checked:
        with torch.no_grad():
            ref = wrapper.logits(x[i:i + 1])[0].numpy()
        if not (np.isfinite(ort_logits[i]).all() and np.isfinite(ref).all()):
            raise KitError(f"the model gives non-finite logits (NaN or Inf) for batch item {i} (ONNX Runtime: "
                           f"{int((~np.isfinite(ort_logits[i])).sum())}, PyTorch: {int((~np.isfinite(ref)).sum())} values); "
                           f"the weights ({meta['weights']}) are broken or out of range: do not deploy this graph")
        logits_check.add(ref, ort_logits[i])
        labels_check.add(ref, ort_labels[i])
        del ref
    worst, flips = float(logits_check.max_abs_diff), labels_check.disagree_over_margin
    result = {"max_abs_logit_diff": worst, "confident_label_mismatches": flips, "checked_batch_items": checked}
    if not worst <= ATOL or flips:  # `not <=`: a NaN difference fails too
        raise KitError(f"ONNX Runtime disagrees with PyTorch: max |logit diff| {worst:.3g} (limit {ATOL}), "
                       f"{flips} confident label mismatches; do not deploy this graph (please report it)")
    return result


def _ort_items(proto: onnx.ModelProto, x: np.ndarray, labels_graph: bool, items: list[int],
               threads: int) -> tuple[dict[int, np.ndarray], dict[int, np.ndarray]]:
    """ORT's logits and labels of batch `items` (copies); the session and the full outputs are freed on return."""
    import gc

    from semask.model.ort_session import make_session

    if labels_graph:  # expose the logits for the run, on the proto itself (a copy of a bs8 graph is ~0.5 GB)
        proto.graph.output.append(_with_logits_output(_outputs_only(proto)).graph.output[-1])
    try:
        data = proto.SerializeToString()
    finally:
        if labels_graph:
            del proto.graph.output[-1]
    session = make_session(data, "cpu", threads=threads, arena=False)
    del data  # ORT holds its own copy of the weights
    outs = session.run(None, {INPUT_NAME: x})
    del session
    logits = outs[1] if labels_graph else outs[0]
    keep_logits = {i: logits[i].copy() for i in items}
    keep_labels = {i: (outs[0][i].copy() if labels_graph else logits[i].argmax(axis=0)) for i in items}
    del outs, logits
    gc.collect()
    return keep_logits, keep_labels


def simplify_onnx(src: Path, out: Path, verify: bool = True, threads: int = 0) -> Dict[str, Any]:
    """onnxsim `src` into `out` (+ sidecar), check it is static, and verify it against PyTorch."""
    import onnxsim

    from semask.core.memory import measure_peak
    from semask.core.progress import step

    meta = read_sidecar(src, "re-run the export step (`make onnx`)")
    started = time.perf_counter()
    peaks: Dict[str, int] = dict(meta.get("peak_rss_bytes") or {})
    with step("onnxsim", str(src)), memory_guard("onnxsim", meta["batch_size"]), measure_peak("onnxsim", peaks):
        proto, ok = onnxsim.simplify(onnx.load(str(src)))
    if not ok:
        raise KitError(f"onnxsim could not validate the simplified {src}; keep the raw export and report it")
    assert_static(proto, out)
    onnx.checker.check_model(proto)
    verification = {"skipped": True}
    if verify:
        with step("verify", "ONNX Runtime vs PyTorch on one batch"), measure_peak("verify", peaks):
            verification = verify_onnx(proto, meta, threads=threads)
    data = proto.SerializeToString()
    summary = {**graph_summary(proto), "bytes": len(data)}
    side = dict(meta, kind="onnx-simplified", source=str(src), source_sha256=meta["sha256"], sha256=sha256_bytes(data),
                onnxsim=onnxsim.__version__, simplify_seconds=round(time.perf_counter() - started, 2),
                verification=verification, peak_rss_bytes=peaks, **summary)
    publish_onnx(out, data, side)  # sidecar first, the .onnx (make target) last
    side["summary_line"] = summary_line(summary, out)
    return side
