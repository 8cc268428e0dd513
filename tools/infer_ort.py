#!/usr/bin/env python3
"""Run a folder of .bin/.npy inputs through an ONNX model with ONNX Runtime, ais_bench style.

Writes OUT_DIR/NAME/<stem>_<i>.bin and OUT_DIR/NAME_summary.json (ais_bench layout); a rerun
after an interruption resumes from the finished batches.
"""
from __future__ import annotations

import argparse
import sys
from typing import Sequence

from semask.backends.ort import runtime as ort_backend
from semask.core.cli import positive_int, run
from semask.core.progress import step
from semask.spec import ORT_PROVIDERS


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, help="static-batch ONNX model (e.g. *_sim.onnx)")
    p.add_argument("--input", required=True, help="folder of per-image .bin/.npy files (not recursive)")
    p.add_argument("--output", required=True, help="output root folder (OUT_DIR)")
    p.add_argument("--output-dirname", default=None, help="run folder name under OUT_DIR (default: timestamp)")
    p.add_argument("--batch-size", required=True, type=positive_int("BS"))
    p.add_argument("--provider", default="cpu", choices=ORT_PROVIDERS, help="ORT_PROVIDER")
    p.add_argument("--device", default=0, type=int, help="device id for cuda/cann")
    p.add_argument("--threads", default=None, type=positive_int("THREADS"), help="ORT intra-op threads")
    p.add_argument("--warmup", default=1, type=int, help="warm-up runs of the first batch (not timed)")
    p.add_argument("--weights", default=None, help="the run's WEIGHTS (a .pth/.npz or 'random'): the model's sidecar "
                   "must name them (make passes it); without it only the model's sha256 is checked")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    args = p.parse_args(argv)
    import time

    dirname = args.output_dirname or time.strftime("%Y_%m_%d-%H_%M_%S")
    with step("infer", f"onnxruntime[{args.provider}] bs{args.batch_size} {args.input}"):
        ort_backend.infer_folder(
            args.model, args.input, args.output, dirname, args.batch_size, provider=args.provider,
            device=args.device, threads=args.threads, warmup=max(0, args.warmup),
            argv=list(sys.argv if argv is None else ["infer_ort.py", *argv]), progress=not args.no_progress,
            weights=args.weights,
        )
    return 0


if __name__ == "__main__":
    run(main)
