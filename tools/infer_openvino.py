#!/usr/bin/env python3
"""Run a folder of .bin/.npy inputs through an ONNX model with OpenVINO (CPU), ais_bench style.

The same contract as infer_ort.py (semask.backends.ort.runtime does the batching, layout, summary and resume):
OUT_DIR/NAME/<stem>_<i>.bin and OUT_DIR/NAME_summary.json; a rerun after an interruption resumes.
--precision fp32 (default) sets INFERENCE_PRECISION_HINT=f32 explicitly; bf16 needs avx512_bf16 or AMX, int8
(NNCF's IR) avx512_vnni, avx_vnni or amx_int8; both record their logit SQNR against fp32.
"""
from __future__ import annotations

import argparse
import sys
from typing import Sequence

from semask.core.cli import positive_int, run
from semask.core.progress import step
from semask.spec import DEFAULT_OV_PRECISION, OV_PRECISIONS


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, help="static-batch ONNX model (the kit's *_ort.onnx or *_sim.onnx); "
                   "--precision int8: the int8 IR's sidecar .json (tools/quantize_openvino.py)")
    p.add_argument("--input", required=True, help="folder of per-image .bin/.npy files (not recursive)")
    p.add_argument("--output", required=True, help="output root folder (OUT_DIR)")
    p.add_argument("--output-dirname", default=None, help="run folder name under OUT_DIR (default: timestamp)")
    p.add_argument("--batch-size", required=True, type=positive_int("BS"))
    p.add_argument("--precision", default=DEFAULT_OV_PRECISION, choices=OV_PRECISIONS, help="PRECISION")
    p.add_argument("--threads", default=None, type=positive_int("THREADS"), help="OpenVINO inference threads")
    p.add_argument("--warmup", default=1, type=int, help="warm-up runs of the first batch (not timed)")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.add_argument("--weights", default=None, help="the run's WEIGHTS (a .pth/.npz or 'random'): the model's sidecar "
                   "must name them (make passes it); without it only the model's sha256 is checked")
    args = p.parse_args(argv)
    import time

    from semask.backends import folder_run
    from semask.backends.openvino.backend import runtime_for

    dirname = args.output_dirname or time.strftime("%Y_%m_%d-%H_%M_%S")
    runtime, onnx = runtime_for(args.model, {"PRECISION": args.precision, "THREADS": str(args.threads or "")},
                                args.input, args.batch_size)
    with step("infer", f"{runtime.label} bs{args.batch_size} {args.input}"):
        folder_run.infer_folder(folder_run.FolderRun(
            onnx, args.input, args.output, dirname, args.batch_size, warmup=max(0, args.warmup),
            argv=list(sys.argv if argv is None else ["infer_openvino.py", *argv]), progress=not args.no_progress,
            weights=args.weights,
        ), runtime)
    return 0


if __name__ == "__main__":
    run(main)
