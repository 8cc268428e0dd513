"""The ONNX Runtime graph: the same model and weights, exported for ORT's fused CPU kernels.

Why a second graph: the Ascend graph (`export.py`, opset 11, plain ops) is what ATC accepts and
stays byte-for-byte as it is. ONNX Runtime runs faster on a graph written for its own kernels,
so `make demo/perf/all` on BACKEND=ort (CPU provider) build and run this one (`*_ort.onnx`).
Levers (measured on SeMask-S 1x3x512x1024, 2 threads, alternating runs; bench/bench_ort.py):

  opset17-layernorm        default. opset 17 export: every LayerNorm is one `LayerNormalization`
                           node (ORT fuses the opset-11 pattern at load time anyway: ~0.98x)
  fused-window-attention   default. each (shifted-)window attention is one `com.microsoft.Attention`:
                           QKV projection, relative position bias, shift mask, softmax and both
                           attention products in one kernel, no head transposes (~0.93-0.96x).
                           Costs a (B*nW, N, N) int32 shift mask per stage: ~35 MB per image at
                           1024x2048, growing with the batch size
  pointwise-conv-linears   default. the token Linears (MLP fc1/fc2, patch-merging reductions, and
                           attention output projections from PROJ_CONV_MIN_DIM channels up) export
                           as 1x1 Convs on a (1, C, tokens/16, 16) grid, with the exact GELU as one
                           com.microsoft.Gelu between fc1 and fc2. ORT runs them in its blocked
                           NCHWc convolution kernels (420-490 GFLOP/s at stage 3 against 340-380
                           for the same Gemms) and turns the Transposes into and out of the grid
                           into NCHWc reorders. SeMask-S 1x3x1024x2048: ~0.93x (3.03 s against
                           3.26 s with the two levers above, alternating runs)
  transformer-fusions      optional, off: ORT's offline transformer optimizer (SkipLayerNorm, Gelu);
  bias-into-elementwise    optional, off: Linear kept as MatMul + Add so it also folds biases into
                           BiasGelu. Both measured slower than ORT's own load-time fusions (~1.07x)

The graph is verified against PyTorch exactly like the Ascend graph (logits within spec.ATOL,
labels equal where the top-2 margin exceeds spec.MARGIN), and its sidecar lists what was applied.
The fused attention, the 1x1-conv MLP and patch merging are subclasses swapped in on a fresh model
instance just before tracing (`prepare` hook of `export_onnx`); network.py only offers the seam
(`PatchMerging.merge`), and the verification compares with a plain, unswapped model.
"""
from __future__ import annotations

import logging
import math
import time
from pathlib import Path
from typing import Any, Dict, List, Sequence, Tuple

import onnx
import torch
import torch.nn.functional as F
from onnx import helper
from torch import nn

from semask.core.errors import KitError
from semask.core.fsio import ensure_writable_dir, sha256_bytes
from semask.core.memory import memory_guard
from semask.core.tempname import scratch_dir
from semask.model import export as ascend_export
from semask.model.network import Mlp, PatchMerging, WindowAttention
from semask.model.onnx_io import publish_onnx, read_sidecar
from semask.spec import DEFAULT_LABEL_DTYPE, DEFAULT_OPSET, NATIVE_HEIGHT, NATIVE_WIDTH

ORT_OPSET = 17  # first opset with LayerNormalization
OPTIMIZATIONS: Tuple[str, ...] = ("opset17-layernorm", "fused-window-attention", "pointwise-conv-linears",
                                  "bias-into-elementwise", "transformer-fusions")
DEFAULT_OPTIMIZATIONS: Tuple[str, ...] = ("opset17-layernorm", "fused-window-attention",
                                          "pointwise-conv-linears")  # the measured winners
# Upstream masks cross-band token pairs with -100 (-200 where both bands differ); the fused kernel
# adds one mask_filter_value. exp(-100) is below float32's normal range next to any unmasked
# score, so both give the same softmax (verification checks it).
MASK_VALUE = -100.0
# The attention output projection (C -> C) runs as a 1x1 Conv only from this width up. Measured on two
# chained C -> C Linears at SeMask-S 1024x2048 window-token counts: C=96 Gemm 25.1 ms vs Conv 31.9 ms,
# C=192 19.6 vs 26.6, C=384 17.5 vs 14.7 (the MLP's 4C side makes its Convs win at every width).
PROJ_CONV_MIN_DIM = 384
_PLACEHOLDER_DOMAIN, _PLACEHOLDER_OP = "semask", "WindowAttention"
_MS_DOMAIN = "com.microsoft"


# --------------------------------------------------------------------------------------------
# Fused window attention: a WindowAttention subclass that traces to one placeholder node
# --------------------------------------------------------------------------------------------
class _WindowAttentionOp(torch.autograd.Function):
    """Eager: what com.microsoft.Attention computes; traced: one `semask::WindowAttention` node.

    x (B*nW, N, C), weight (C, 3C) = qkv.weight^T, bias (3C,), pos_bias (1, nH, N, N), keep
    (B*nW, N, N) int32 (1 = attend, 0 = masked) or absent for unshifted windows.
    """

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, pos_bias: torch.Tensor,
                keep: torch.Tensor | None, num_heads: int, scale: float) -> torch.Tensor:
        bw, n, c = x.shape
        qkv = (x @ weight + bias).reshape(bw, n, 3, num_heads, c // num_heads).permute(2, 0, 3, 1, 4)
        attn = (qkv[0] @ qkv[1].transpose(-2, -1)) * scale + pos_bias  # (B*nW, nH, N, N)
        if keep is not None:
            attn = attn + (1 - keep[:, None].to(attn.dtype)) * MASK_VALUE
        return (attn.softmax(dim=-1) @ qkv[2]).transpose(1, 2).reshape(bw, n, c)

    @staticmethod
    def symbolic(g: Any, x: Any, weight: Any, bias: Any, pos_bias: Any, keep: Any, num_heads: int,
                 scale: float) -> Any:
        inputs = [x, weight, bias, pos_bias] + ([keep] if keep is not None else [])
        out = g.op(f"{_PLACEHOLDER_DOMAIN}::{_PLACEHOLDER_OP}", *inputs, num_heads_i=num_heads, scale_f=scale)
        out.setType(x.type())
        return out


class OrtWindowAttention(WindowAttention):
    """WindowAttention whose export is one fused node; same parameters, same math."""

    pointwise_proj: bool = False  # set per instance by use_pointwise_conv_linears: proj as a 1x1 Conv

    def forward(self, x: torch.Tensor, mask: Tuple[torch.Tensor, torch.Tensor] | None, b: int) -> torch.Tensor:
        n, nh = x.shape[1], self.num_heads
        pos_bias = self.relative_position_bias_table[self.relative_position_index.reshape(-1)]
        pos_bias = pos_bias.reshape(n, n, nh).permute(2, 0, 1).unsqueeze(0)  # (1, nH, N, N)
        keep = None
        if mask is not None:
            row, col = mask  # (nWh,1,1,N,N), (1,nWw,1,N,N): 0 where attending is allowed
            keep = ((row + col) == 0).to(torch.int32).reshape(-1, n, n).repeat(b, 1, 1)  # (B*nW, N, N)
        heads = _WindowAttentionOp.apply(x, self.qkv.weight.t(), self.qkv.bias, pos_bias, keep, nh, float(self.scale))
        return pointwise(heads, (self.proj,)) if self.pointwise_proj else self.proj(heads)  # (B*nW, N, C)


def use_fused_window_attention(model: nn.Module) -> int:
    """Swap every WindowAttention of `model` (a fresh instance) for OrtWindowAttention; returns how many."""
    count = 0
    for module in model.modules():
        if type(module) is WindowAttention:
            module.__class__ = OrtWindowAttention
            count += 1
    return count


# --------------------------------------------------------------------------------------------
# Token Linears as 1x1 convolutions (ORT runs them in its blocked NCHWc kernels)
# --------------------------------------------------------------------------------------------
def _token_grid(m: int) -> Tuple[int, int]:
    """A (rows, cols) grid for m tokens: 16 columns when they divide m (measured best), else one column."""
    return (m // 16, 16) if m % 16 == 0 else (m, 1)


class _GeluOp(torch.autograd.Function):
    """Eager: exact (erf) GELU; traced: one `com.microsoft::Gelu` node.

    Why: ORT's load-time Gelu fusion does not match the erf pattern on the 4-D conv layout, and the
    unfused Div/Erf/Mul/Add would each force a reorder out of the NCHWc layout.
    """

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor) -> torch.Tensor:
        return F.gelu(x)

    @staticmethod
    def symbolic(g: Any, x: Any) -> Any:
        out = g.op(f"{_MS_DOMAIN}::Gelu", x)
        out.setType(x.type())
        return out


def pointwise(x: torch.Tensor, layers: Sequence[nn.Module]) -> torch.Tensor:
    """Apply Linear layers (and elementwise activations between them) to x (..., C) as 1x1 convolutions.

    The tokens become the spatial grid of one NCHW image: (1, C, rows, cols); ORT turns the
    Transpose into and out of it into its NCHWc reorders.
    """
    lead, c = x.shape[:-1], x.shape[-1]
    rows, cols = _token_grid(math.prod(int(d) for d in lead))
    t = x.reshape(1, rows, cols, c).permute(0, 3, 1, 2)  # (1, C, rows, cols)
    for layer in layers:
        if isinstance(layer, nn.Linear):
            t = F.conv2d(t, layer.weight[:, :, None, None], layer.bias)  # (1, C_out, rows, cols)
        elif isinstance(layer, nn.GELU) and layer.approximate == "none":
            t = _GeluOp.apply(t)
        else:
            raise KitError(f"pointwise: no 1x1-conv form for {type(layer).__name__}")
    return t.permute(0, 2, 3, 1).reshape(*lead, t.shape[1])


class OrtMlp(Mlp):
    """Mlp whose two Linears export as 1x1 Convs around one Gelu node; same parameters, same math."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return pointwise(x, (self.fc1, self.act, self.fc2))  # (B, L, C) -> (B, L, C)


class OrtPatchMerging(PatchMerging):
    """PatchMerging whose reduction exports as a 1x1 Conv; same parameters, same math."""

    def forward(self, x: torch.Tensor, h: int, w: int) -> torch.Tensor:
        return pointwise(self.merge(x, h, w), (self.reduction,))  # (B, h2*w2, 4C) -> (B, h2*w2, 2C)


def use_pointwise_conv_linears(model: nn.Module) -> int:
    """Swap Mlp and PatchMerging for their 1x1-conv forms; fused attentions >= PROJ_CONV_MIN_DIM get a conv proj.

    `model` is a fresh instance; returns how many modules changed.
    """
    count = 0
    for module in model.modules():
        if type(module) is Mlp:
            module.__class__ = OrtMlp
        elif type(module) is PatchMerging:
            module.__class__ = OrtPatchMerging
        elif type(module) is OrtWindowAttention and module.proj.in_features >= PROJ_CONV_MIN_DIM:
            module.pointwise_proj = True
        else:
            continue
        count += 1
    return count


# --------------------------------------------------------------------------------------------
# Graph passes
# --------------------------------------------------------------------------------------------
def placeholders_to_ort_attention(proto: onnx.ModelProto) -> int:
    """Rewrite every semask::WindowAttention into com.microsoft.Attention (3D raw mask, -100 fill)."""
    count = 0
    for i, node in enumerate(proto.graph.node):
        if node.domain != _PLACEHOLDER_DOMAIN or node.op_type != _PLACEHOLDER_OP:
            continue
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        x, weight, bias, pos_bias = node.input[:4]
        keep = node.input[4] if len(node.input) > 4 else ""
        fused = helper.make_node("Attention", [x, weight, bias, keep, "", pos_bias], list(node.output),
                                 name=node.name or f"WindowAttention_{count}", domain=_MS_DOMAIN,
                                 num_heads=int(attrs["num_heads"]), scale=float(attrs["scale"]),
                                 mask_filter_value=MASK_VALUE)
        proto.graph.node[i].CopyFrom(fused)
        count += 1
    imports = [op for op in proto.opset_import if op.domain != _PLACEHOLDER_DOMAIN]
    if count and not any(op.domain == _MS_DOMAIN for op in imports):
        imports.append(helper.make_opsetid(_MS_DOMAIN, 1))
    del proto.opset_import[:]
    proto.opset_import.extend(imports)
    return count


def simplify(proto: onnx.ModelProto, keep_matmul_add: bool) -> onnx.ModelProto:
    """onnxsim, optionally without its MatMul+Add -> Gemm fusion (which hides the bias from ORT's fusions)."""
    import onnxsim

    skipped = ["fuse_matmul_add_bias_into_gemm", "fuse_matmul_add_bias_into_gemm_batched"] if keep_matmul_add else None
    simplified, ok = onnxsim.simplify(proto, skipped_optimizers=skipped)
    if not ok:
        raise KitError("onnxsim could not validate the simplified ORT graph; use the Ascend graph and report it")
    return simplified


def transformer_fusions(proto: onnx.ModelProto) -> Tuple[onnx.ModelProto, Dict[str, int]]:
    """ORT's offline transformer optimizer (model type 'swin', python fusions only, no session)."""
    from onnxruntime.transformers import optimizer
    from onnxruntime.transformers.fusion_options import FusionOptions

    logging.getLogger("onnxruntime.transformers").setLevel(logging.WARNING)
    model = optimizer.optimize_model(proto, model_type="swin", num_heads=0, hidden_size=0, opt_level=0,
                                     optimization_options=FusionOptions("swin"), use_gpu=False)
    stats = {k: int(v) for k, v in model.get_fused_operator_statistics().items() if v}
    fused = model.model
    if any(n.domain == _MS_DOMAIN for n in fused.graph.node) and not any(o.domain == _MS_DOMAIN for o in fused.opset_import):
        fused.opset_import.append(helper.make_opsetid(_MS_DOMAIN, 1))  # the optimizer only adds it on save
    return fused, stats


# --------------------------------------------------------------------------------------------
# The export step
# --------------------------------------------------------------------------------------------
def check_optimizations(names: Sequence[str]) -> List[str]:
    unknown = [n for n in names if n not in OPTIMIZATIONS]
    if unknown:
        raise KitError(f"--ort-optimizations: unknown {', '.join(unknown)}; choose from {', '.join(OPTIMIZATIONS)}")
    if "transformer-fusions" not in names and "bias-into-elementwise" in names:
        raise KitError("--ort-optimizations: bias-into-elementwise needs transformer-fusions (it only keeps the "
                       "bias visible to them)")
    return [n for n in OPTIMIZATIONS if n in names]


def export_ort_raw(model_name: str, weights: str, out: Path, batch_size: int = 1, height: int = NATIVE_HEIGHT,
                   width: int = NATIVE_WIDTH, input_dtype: str = "float32", output: str = "labels",
                   label_dtype: str = DEFAULT_LABEL_DTYPE,
                   optimizations: Sequence[str] = DEFAULT_OPTIMIZATIONS, out_height: int | None = None,
                   out_width: int | None = None) -> Dict[str, Any]:
    """Trace the ORT graph (the export half; `simplify_ort` is the other) into `out` + sidecar, atomically.

    Same ExportWrapper, checks and sidecar as the Ascend export, plus `target: ort` and the chosen
    optimisations, which tell the simplify step what to do.
    """
    out = Path(out)
    applied = check_optimizations(optimizations)
    opset = ORT_OPSET if "opset17-layernorm" in applied else DEFAULT_OPSET
    fuse_attention = "fused-window-attention" in applied
    conv_linears = "pointwise-conv-linears" in applied
    steps: Dict[str, Any] = {}

    def prepare(model: nn.Module) -> None:  # the fused attention first: the conv proj lives on it
        if fuse_attention:
            use_fused_window_attention(model)
        if conv_linears:
            steps["pointwise-conv-linears"] = {"modules": use_pointwise_conv_linears(model),
                                               "proj_conv_min_dim": PROJ_CONV_MIN_DIM}

    with scratch_dir(ensure_writable_dir(out.parent), f".{out.name}.") as scratch:
        raw = Path(scratch) / "raw.onnx"  # the traced graph before the placeholder rewrite, never published
        meta = ascend_export.export_onnx(model_name, weights, raw, batch_size, height, width, opset, input_dtype,
                                         output, label_dtype, out_height, out_width,
                                         prepare=prepare if (fuse_attention or conv_linears) else None)
        proto = onnx.load(str(raw))
    if fuse_attention:
        steps["fused-window-attention"] = {"attention_nodes": placeholders_to_ort_attention(proto)}
        onnx.checker.check_model(proto)
    data = proto.SerializeToString()
    meta.update(target="ort", ort_optimizations=applied, ort_optimization_steps=steps, sha256=sha256_bytes(data),
                **ascend_export.graph_summary(proto), bytes=len(data))
    publish_onnx(out, data, meta)  # sidecar first, the .onnx (make target) last
    return meta


def simplify_ort(src: Path, out: Path, verify: bool = True, threads: int = 0) -> Dict[str, Any]:
    """onnxsim + ORT's transformer fusions on an `export_ort_raw` graph, verified against PyTorch."""
    import onnxruntime
    import onnxsim

    meta = read_sidecar(src, "run `make onnx` to export it")
    if meta.get("target") != "ort":
        raise KitError(f"{src} is not an ORT-target export (its sidecar has no target: ort); "
                       "re-export it with `export_onnx.py --target ort`")
    applied = check_optimizations(meta["ort_optimizations"])
    steps = dict(meta.get("ort_optimization_steps", {}))
    from semask.core.memory import measure_peak
    from semask.core.progress import step

    started = time.perf_counter()
    peaks: Dict[str, int] = dict(meta.get("peak_rss_bytes") or {})
    with step("onnxsim", str(src)), memory_guard("onnxsim", meta["batch_size"]), measure_peak("onnxsim", peaks):
        proto = simplify(onnx.load(str(src)), keep_matmul_add="bias-into-elementwise" in applied)
        if "transformer-fusions" in applied:
            proto, steps["transformer-fusions"] = transformer_fusions(proto)
        ascend_export.assert_static(proto, out)
        onnx.checker.check_model(proto)
    verification = {"skipped": True}
    if verify:
        with step("verify", "ONNX Runtime vs PyTorch on one batch"), measure_peak("verify", peaks):
            verification = ascend_export.verify_onnx(proto, meta, threads=threads)
    data = proto.SerializeToString()
    summary = {**ascend_export.graph_summary(proto), "bytes": len(data)}
    side = dict(meta, kind="onnx-ort", source=str(src), source_sha256=meta["sha256"], sha256=sha256_bytes(data),
                onnxsim=onnxsim.__version__, onnxruntime=onnxruntime.__version__, ort_optimization_steps=steps,
                exported_ops=meta["ops"], simplify_seconds=round(time.perf_counter() - started, 2),
                verification=verification, peak_rss_bytes=peaks, **summary)
    publish_onnx(out, data, side)  # sidecar first, the .onnx (make target) last
    side["summary_line"] = ascend_export.summary_line(summary, out)
    return side
