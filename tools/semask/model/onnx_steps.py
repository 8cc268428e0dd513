"""The two ONNX steps the Makefile runs, for either target: export (trace) and simplify (+ verify).

Why a module of its own: `tools/export_onnx.py` and `tools/simplify_onnx.py` stay argparse plus one
call, and the choice between the Ascend graph (`export.py`) and ONNX Runtime's graph (`ort_graph.py`)
is made here, once: by `--target` at export, and by the raw export's sidecar at simplify.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Sequence

from semask.core.progress import step
from semask.model import export, ort_graph
from semask.model.onnx_io import read_sidecar


def export_raw(spec: export.ExportSpec, out: Path, target: str = "ascend",
               ort_optimizations: Sequence[str] | None = None) -> Dict[str, Any]:
    """Trace `spec` into `out` (+ sidecar): target 'ascend' is the opset-`spec.opset` graph ATC compiles, 'ort'
    the ONNX Runtime graph with `ort_optimizations` (None: ort_graph.DEFAULT_OPTIMIZATIONS; opset is its own).
    Returns the sidecar facts plus `summary_line`."""
    out = Path(out)
    what = f"{spec.model} bs{spec.batch_size} {spec.height}x{spec.width}"
    if target == "ort":
        chosen = ort_graph.DEFAULT_OPTIMIZATIONS if ort_optimizations is None else list(ort_optimizations)
        with step("export", f"{what} (ORT graph) -> {out}"):
            meta = ort_graph.export_ort_raw(spec, out, chosen)
        tail = f" | {', '.join(meta['ort_optimizations'])}"
    else:
        with step("export", f"{what} -> {out}"):
            meta = export.export_onnx(spec, out)
        tail = ""
    return {**meta, "summary_line": f"{export.summary_line(meta, out)} | exported in {meta['export_seconds']} s{tail}"}


def simplify(src: Path, out: Path, verify: bool = True, threads: int = 0) -> Dict[str, Any]:
    """Simplify the raw export `src` into `out` the way its sidecar's target needs, verified against
    the raw export (itself verified against PyTorch by the export) unless `verify` is False; returns the new sidecar plus `summary_line` (verification included)."""
    if read_sidecar(src, "export it first (tools/export_onnx.py)").get("target") == "ort":
        side = ort_graph.simplify_ort(src, out, verify=verify, threads=threads)
    else:
        side = export.simplify_onnx(src, out, verify=verify, threads=threads)
    return {**side, "summary_line": f"{side['summary_line']} | verify: {side['verification']}"}
