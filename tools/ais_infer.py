#!/usr/bin/env python3
"""Run an .om with ais_bench over a bins folder: predictions in ais_bench's output layout (tools/ais_perf.py
measures pure-inference throughput instead).

Uses `python -m ais_bench` of this interpreter unless $AIS_BENCH names another command.
"""
from __future__ import annotations

import argparse
import time
from typing import Sequence

from semask.core.cli import positive_int, run
from semask.backends.ascend.devices import device_list_arg
from semask.core.progress import step
from semask.backends.ascend import toolchain as ascend
from semask.backends.ascend.jobs import AisInferJob


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--om", required=True, help=".om compiled by tools/atc_compile.py (sidecar FILE.json next to it)")
    p.add_argument("--input", required=True, help="bins folder")
    p.add_argument("--output", required=True, help="output root folder")
    p.add_argument("--output-dirname", default=None, help="run folder name (default: timestamp)")
    p.add_argument("--batch-size", required=True, type=positive_int("BS"))
    p.add_argument("--device", default=[0], type=device_list_arg,
                   help="NPU id 0-255, or a comma list (ais_bench's multi-device mode), e.g. 0,1")
    p.add_argument("--weights", default=None, help="the run's WEIGHTS (a .pth/.npz or 'random'): the model's sidecar "
                   "must name them (make passes it); without it only the model's sha256 is checked")
    args = p.parse_args(argv)
    dirname = args.output_dirname or time.strftime("%Y_%m_%d-%H_%M_%S")
    with step("infer", f"ais_bench bs{args.batch_size} {args.input}"):
        ascend.ais_infer(AisInferJob(args.om, args.input, args.output, dirname, args.batch_size, args.device,
                                     weights=args.weights))
    return 0


if __name__ == "__main__":
    run(main)
