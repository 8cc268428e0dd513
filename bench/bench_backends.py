#!/usr/bin/env python3
"""Benchmark the ONNX Runtime backend the way the kit reports the NPU (ais_bench throughput
definition), across models (one per batch size) and intra-op thread counts.

    .venv/bin/python bench/bench_backends.py --model A_bs1_sim.onnx --model A_bs4_sim.onnx \
        [--threads 1 --threads 0] [--loop 5] [--input BINS_DIR] [--out bench/out/backends.json]

threads 0 = ORT default. Writes one JSON with every measurement (see semask.backends.ort.runtime.run_perf).
"""
from __future__ import annotations

import argparse
import platform
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))

from semask.backends.ort import runtime as ort  # noqa: E402
from semask.core.fsio import atomic_write_json  # noqa: E402
from semask.model.onnx_io import onnx_io  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", action="append", required=True)
    p.add_argument("--threads", action="append", type=int, default=None)
    p.add_argument("--loop", type=int, default=5)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--input", default=None)
    p.add_argument("--out", default="bench/out/backends.json")
    args = p.parse_args()
    runs = []
    for model in args.model:
        batch_size = onnx_io(model)[0][0].shape[0]
        for threads in args.threads or [0]:
            r = ort.run_perf(model, batch_size, args.loop, args.warmup, "cpu", device=0, threads=threads or None,
                             input_dir=args.input)
            r.pop("compute_time_list", None)
            print(ort.result_line(r) + f" (threads {threads or 'default'})", flush=True)
            runs.append(r)
    atomic_write_json(args.out, {"host": {"machine": platform.machine(), "processor": platform.processor(),
                                          "python": platform.python_version()}, "runs": runs})
    print(f"-> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
