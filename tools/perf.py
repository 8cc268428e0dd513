#!/usr/bin/env python3
"""Pure-inference performance (ais_bench's throughput definition) + optional e2e images/s, on ONNX Runtime
(default) or OpenVINO (--runtime openvino --precision fp32|bf16); both share semask.backends.ort.runtime.run_perf."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Sequence

from semask.backends.ort import runtime as ort
from semask.core.cli import positive_int, run
from semask.core.fsio import atomic_write_json, ensure_writable_dir
from semask.core.progress import loop_arg, step
from semask.spec import DEFAULT_OV_PRECISION, ORT_PROVIDERS, OV_PRECISIONS


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--model", required=True, help="static-batch ONNX model")
    p.add_argument("--batch-size", required=True, type=positive_int("BS"))
    p.add_argument("--loop", required=True, type=loop_arg, help="timed runs, or auto (fit --seconds, at least 3)")
    p.add_argument("--seconds", default=60.0, type=float, help="PERF_SECONDS: time budget of --loop auto")
    p.add_argument("--warmup", default=1, type=int, help="untimed warm-up runs")
    p.add_argument("--runtime", default="onnxruntime", choices=("onnxruntime", "openvino"))
    p.add_argument("--provider", default="cpu", choices=ORT_PROVIDERS, help="ORT_PROVIDER (onnxruntime)")
    p.add_argument("--precision", default=DEFAULT_OV_PRECISION, choices=OV_PRECISIONS, help="PRECISION (openvino)")
    p.add_argument("--int8-ir", default=None, help="PRECISION=int8 (openvino): the quantised IR's sidecar .json")
    p.add_argument("--device", default=0, type=int)
    p.add_argument("--threads", default=None, type=positive_int("THREADS"))
    p.add_argument("--input", default=None, help="bins folder: time on real data and add an e2e pass")
    p.add_argument("--weights", default=None, help="the run's WEIGHTS (a .pth/.npz or 'random'): the model's sidecar "
                   "must name them (make passes it); without it only the model's sha256 is checked")
    p.add_argument("--out-json", required=True, help="result JSON (written atomically)")
    args = p.parse_args(argv)
    out = Path(args.out_json)
    ensure_writable_dir(out.parent)
    if args.runtime == "openvino":
        from semask.backends.openvino.runtime import openvino_runtime

        from semask.backends.openvino.sqnr_check import sqnr_record

        runtime = openvino_runtime(args.precision, args.threads, args.model, args.int8_ir)
        if args.input:
            runtime.facts["logit_sqnr"] = sqnr_record(args.model, args.input, args.batch_size, args.precision,
                                                      args.int8_ir)
    else:
        runtime = ort.ort_runtime(args.provider, args.device, args.threads)
    with step("perf", f"{runtime.label} bs{args.batch_size} LOOP={args.loop or 'auto'}"):
        result = ort.run_perf(args.model, args.batch_size, args.loop, max(0, args.warmup), args.provider,
                              args.device, args.threads, args.input, scratch_parent=out.parent,
                              budget_seconds=args.seconds, weights=args.weights, runtime=runtime)
    atomic_write_json(out, result)
    print(ort.result_line(result))
    return 0


if __name__ == "__main__":
    run(main)
