#!/usr/bin/env python3
"""Export SeMask-FPN to a static ONNX graph (the raw trace, with a .json sidecar beside it);
tools/simplify_onnx.py then simplifies and verifies it.

--target ascend (default) is the opset-11 graph ATC compiles; --target ort is the graph ONNX Runtime
runs fastest (semask.model.ort_graph: opset 17 LayerNormalization, fused window attention).
"""
import argparse
from pathlib import Path

from semask.core.cli import positive_int, run
from semask.model.export import ExportSpec
from semask.model.onnx_steps import export_raw
from semask.spec import (DEFAULT_INPUT_DTYPE, DEFAULT_LABEL_DTYPE, DEFAULT_OPSET, INPUT_DTYPES,
                         LABEL_DTYPES, MODELS, NATIVE_HEIGHT, NATIVE_WIDTH, ONNX_TARGETS, OUTPUT_KINDS)


def _names(text: str) -> list[str]:
    return [n.strip() for n in text.split(",") if n.strip()]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, choices=MODELS, help="MODEL")
    p.add_argument("--weights", required=True, help="checkpoint (.pth/.npz) or the word 'random'")
    p.add_argument("--batch-size", type=positive_int("BS"), default=1)
    p.add_argument("--height", type=positive_int("HEIGHT"), default=NATIVE_HEIGHT)
    p.add_argument("--width", type=positive_int("WIDTH"), default=NATIVE_WIDTH)
    p.add_argument("--opset", type=int, default=DEFAULT_OPSET,
                   help=f"ascend target: {DEFAULT_OPSET} (default) is what older ATC releases accept")
    p.add_argument("--input-dtype", choices=INPUT_DTYPES, default=DEFAULT_INPUT_DTYPE)
    p.add_argument("--output", choices=OUTPUT_KINDS, default=OUTPUT_KINDS[0])
    p.add_argument("--label-dtype", choices=LABEL_DTYPES, default=DEFAULT_LABEL_DTYPE)
    p.add_argument("--out-height", type=positive_int("--out-height"), default=None,
                   help="resize the logits to this height before the argmax (the dataset's native size)")
    p.add_argument("--out-width", type=positive_int("--out-width"), default=None, help="see --out-height")
    p.add_argument("--target", choices=ONNX_TARGETS, default=ONNX_TARGETS[0],
                   help="ascend: the graph for ATC (default); ort: the ONNX Runtime graph")
    p.add_argument("--ort-optimizations", type=_names, default=None, metavar="A,B,..",
                   help="ort target only: which optimisations to apply (default: semask.model.ort_graph."
                        "DEFAULT_OPTIMIZATIONS)")
    p.add_argument("--out", type=Path, required=True, help="the .onnx to write (a .json sidecar goes next to it)")
    a = p.parse_args(argv)
    spec = ExportSpec(a.model, a.weights, a.batch_size, a.height, a.width, a.opset, a.input_dtype, a.output,
                      a.label_dtype, a.out_height, a.out_width)
    meta = export_raw(spec, a.out, a.target, a.ort_optimizations)
    print(meta["summary_line"])
    return 0


if __name__ == "__main__":
    run(main)
