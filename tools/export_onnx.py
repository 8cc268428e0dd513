#!/usr/bin/env python3
"""Export SeMask-FPN to a static ONNX graph, simplify it with onnxsim and verify it with ONNX Runtime.

  export + simplify + verify:  export_onnx.py --model small --weights W.pth --batch-size 4 --out X.onnx
  export only (make target):   export_onnx.py ... --out X.onnx --no-simplify
  simplify + verify only:      export_onnx.py --simplify X.onnx --out X_sim.onnx

--target ascend (default) is the opset-11 graph ATC compiles; --target ort is the graph ONNX Runtime
runs fastest (semask.model.ort_graph: opset 17 LayerNormalization, fused window attention).
--simplify reads the raw export's sidecar and treats each target its own way.
"""
import argparse
from pathlib import Path

from semask.core.cli import positive_int, run
from semask.core.progress import step
from semask.model.export import export_onnx, simplify_onnx, summary_line
from semask.model.onnx_io import read_sidecar
from semask.spec import DEFAULT_INPUT_DTYPE, DEFAULT_LABEL_DTYPE, INPUT_DTYPES, LABEL_DTYPES, OUTPUT_KINDS


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", help="tiny, small, base, large or reduced")
    p.add_argument("--weights", help="checkpoint (.pth/.npz) or the word 'random'")
    p.add_argument("--batch-size", type=positive_int("BS"), default=1)
    p.add_argument("--height", type=positive_int("HEIGHT"), default=1024)
    p.add_argument("--width", type=positive_int("WIDTH"), default=2048)
    p.add_argument("--opset", type=int, default=11, help="11 (default) is what older ATC releases accept")
    p.add_argument("--input-dtype", choices=INPUT_DTYPES, default=DEFAULT_INPUT_DTYPE)
    p.add_argument("--output", choices=OUTPUT_KINDS, default="labels")
    p.add_argument("--label-dtype", choices=LABEL_DTYPES, default=DEFAULT_LABEL_DTYPE)
    p.add_argument("--out-height", type=positive_int("--out-height"), default=None,
                   help="resize the logits to this height before the argmax (the dataset's native size)")
    p.add_argument("--out-width", type=positive_int("--out-width"), default=None, help="see --out-height")
    p.add_argument("--target", choices=("ascend", "ort"), default="ascend",
                   help="ascend: the opset-11 graph for ATC (default); ort: the ONNX Runtime graph")
    p.add_argument("--ort-optimizations", default=None, metavar="A,B,..",
                   help="ort target only: which optimisations to apply (default: semask.model.ort_graph."
                        "DEFAULT_OPTIMIZATIONS)")
    p.add_argument("--out", type=Path, required=True, help="the .onnx to write (a .json sidecar goes next to it)")
    p.add_argument("--no-simplify", action="store_true", help="stop after the raw export")
    p.add_argument("--simplify", type=Path, metavar="RAW_ONNX", help="only simplify + verify this raw export into --out")
    p.add_argument("--no-verify", action="store_true", help="skip the ONNX Runtime vs PyTorch check")
    p.add_argument("--threads", type=int, default=0, help="ORT intra-op threads for verification (0 = all)")
    a = p.parse_args(argv)
    if a.simplify:
        if read_sidecar(a.simplify, "export it first (without --simplify)").get("target") == "ort":
            from semask.model.ort_graph import simplify_ort

            side = simplify_ort(a.simplify, a.out, verify=not a.no_verify, threads=a.threads)
        else:
            side = simplify_onnx(a.simplify, a.out, verify=not a.no_verify, threads=a.threads)
        print(side["summary_line"], "| verify:", side["verification"])
        return 0
    if not a.model or not a.weights:
        p.error("--model and --weights are required unless --simplify is given")
    raw = a.out if a.no_simplify else a.out.with_name(a.out.stem + "_raw.onnx")
    if a.target == "ort":
        from semask.model import ort_graph

        chosen = ort_graph.DEFAULT_OPTIMIZATIONS if a.ort_optimizations is None else \
            [n.strip() for n in a.ort_optimizations.split(",") if n.strip()]
        with step("export", f"{a.model} bs{a.batch_size} {a.height}x{a.width} (ORT graph) -> {raw}"):
            meta = ort_graph.export_ort_raw(a.model, a.weights, raw, a.batch_size, a.height, a.width, a.input_dtype,
                                            a.output, a.label_dtype, chosen, a.out_height, a.out_width)
        print(summary_line(meta, raw), f"| exported in {meta['export_seconds']} s | {', '.join(meta['ort_optimizations'])}")
        if not a.no_simplify:
            side = ort_graph.simplify_ort(raw, a.out, verify=not a.no_verify, threads=a.threads)
            print(side["summary_line"], "| verify:", side["verification"])
        return 0
    with step("export", f"{a.model} bs{a.batch_size} {a.height}x{a.width} -> {raw}"):
        meta = export_onnx(a.model, a.weights, raw, a.batch_size, a.height, a.width, a.opset, a.input_dtype,
                           a.output, a.label_dtype, a.out_height, a.out_width)
    print(summary_line(meta, raw), f"| exported in {meta['export_seconds']} s")
    if not a.no_simplify:
        side = simplify_onnx(raw, a.out, verify=not a.no_verify, threads=a.threads)
        print(side["summary_line"], "| verify:", side["verification"])
    return 0


if __name__ == "__main__":
    run(main)
