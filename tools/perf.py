#!/usr/bin/env python3
"""Pure-inference performance (ais_bench's throughput definition) + optional e2e images/s, on ONNX Runtime
(default) or OpenVINO (--runtime openvino --precision fp32|bf16); both share semask.backends.ort.runtime.run_perf."""
from __future__ import annotations

import argparse
from typing import Sequence

from semask.backends.base import PerfSpec, Weights
from semask.backends.registry import backend_for
from semask.core.cli import positive_int, run
from semask.core.progress import loop_arg
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
    p.add_argument("--device", default=0, type=int)
    p.add_argument("--threads", default=None, type=positive_int("THREADS"))
    p.add_argument("--input", default=None, help="bins folder: time on real data and add an e2e pass")
    p.add_argument("--weights", default=None, help="the run's WEIGHTS (a .pth/.npz or 'random'): the model's sidecar "
                   "must name them (make passes it); without it only the model's sha256 is checked")
    p.add_argument("--out-json", required=True, help="result JSON (written atomically)")
    args = p.parse_args(argv)
    backend = backend_for("openvino" if args.runtime == "openvino" else "ort")
    knobs = {"ORT_PROVIDER": args.provider, "DEVICE": str(args.device), "PRECISION": args.precision,
             "THREADS": str(args.threads or ""), "WARMUP": str(max(0, args.warmup))}
    backend.perf(PerfSpec(args.model, args.batch_size, args.loop, args.seconds, args.out_json, args.input,
                          Weights(args.weights) if args.weights else None, knobs))
    return 0


if __name__ == "__main__":
    run(main)
