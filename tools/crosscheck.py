#!/usr/bin/env python
"""Run the pinned upstream SeMask-FPN beside the kit's model on the same images and prove they agree.

    python tools/crosscheck.py --upstream data/upstream/SeMask-Segmentation --model small \\
        --weights random --num 2 --out-json artifacts/reports/crosscheck_small.json

The upstream half runs in env/upstream/venv (bash env/upstream/setup.sh). Fails (exit 2) when a
logit differs by more than --atol or a label differs where the upstream top-2 margin > --margin.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from semask.core.cli import positive_int, run
from semask.spec import DEFAULT_MODEL, MODELS, NATIVE_HEIGHT, NATIVE_WIDTH


def main(argv=None) -> int:
    from semask.evaluate.upstream import compare as cc

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[1], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--upstream", type=Path, required=True,
                    help="root of the SeMask-Segmentation clone at the pinned commit (code in DIR/SeMask-FPN)")
    ap.add_argument("--model", default=DEFAULT_MODEL, choices=MODELS,
                    help="kit preset; the upstream side uses its own Cityscapes config for it (reduced: golden config)")
    ap.add_argument("--weights", default="random",
                    help="checkpoint (.pth mmcv/plain or .npz) loaded into both, or 'random' (seeded, non-trivial)")
    ap.add_argument("--num", type=positive_int("NUM"), default=2, help="number of images")
    ap.add_argument("--height", type=positive_int("HEIGHT"), default=NATIVE_HEIGHT)
    ap.add_argument("--width", type=positive_int("WIDTH"), default=NATIVE_WIDTH)
    ap.add_argument("--data-root", type=Path, default=None,
                    help="Cityscapes root; its first NUM val images are used when present, else synthetic images")
    ap.add_argument("--onnx", type=Path, default=None, help="also run this kit ONNX (onnxruntime CPU) as a third column")
    ap.add_argument("--out-json", type=Path, required=True, help="report JSON (written before any failure is raised)")
    ap.add_argument("--seed", type=int, default=cc.WEIGHT_SEED, help="seed of --weights random")
    ap.add_argument("--atol", type=float, default=cc.ATOL, help="max allowed |logit difference|")
    ap.add_argument("--margin", type=float, default=cc.MARGIN,
                    help="a label may differ only where the upstream top-1 minus top-2 margin is <= this")
    ap.add_argument("--threads", type=positive_int("THREADS"), default=None, help="torch threads on both sides")
    args = ap.parse_args(argv)
    opts = cc.CrosscheckOptions(args.upstream, args.model, args.weights, args.num, args.height, args.width,
                                args.out_json, data_root=args.data_root, onnx=args.onnx, seed=args.seed, atol=args.atol,
                                margin=args.margin, threads=args.threads)
    cc.crosscheck(opts, log=lambda msg: print(msg, flush=True))
    return 0


if __name__ == "__main__":
    run(main)
