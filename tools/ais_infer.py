#!/usr/bin/env python3
"""Run an .om with ais_bench: infer mode over a bins folder (ais_bench output layout), or
perf mode (--loop N, pure inference on zero data) writing a perf JSON.

Uses `python -m ais_bench` of this interpreter unless $AIS_BENCH names another command.
"""
from __future__ import annotations

import argparse
import sys
import time
from typing import Sequence

from semask.runtime import ascend
from semask.core.cli import positive_int, run
from semask.core.errors import KitError
from semask.core.progress import loop_arg, step
from semask.runtime.ascend_fs import write_private_json
from semask.core.devices import device_list_arg


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--om", required=True, help=".om compiled by tools/atc_compile.py (sidecar FILE.json next to it)")
    p.add_argument("--input", default=None, help="bins folder (infer mode)")
    p.add_argument("--output", default=None, help="output root folder (infer mode)")
    p.add_argument("--output-dirname", default=None, help="run folder name (default: timestamp)")
    p.add_argument("--batch-size", required=True, type=positive_int("BS"))
    p.add_argument("--device", default=[0], type=device_list_arg,
                   help="NPU id 0-255, or a comma list (ais_bench's multi-device mode), e.g. 0,1")
    p.add_argument("--loop", default=None, type=loop_arg, help="perf mode: pure-inference runs, or auto")
    p.add_argument("--seconds", default=60.0, type=float, help="PERF_SECONDS: time budget of --loop auto")
    p.add_argument("--out-json", default=None, help="perf mode: result JSON")
    args = p.parse_args(argv)
    perf_mode = args.out_json is not None or "--loop" in list(sys.argv[1:] if argv is None else argv)
    if perf_mode:
        if not args.out_json:
            raise KitError("perf mode (--loop) needs --out-json FILE")
        with step("perf", f"ais_bench bs{args.batch_size} LOOP={args.loop or 'auto'}"):
            result = ascend.ais_perf(args.om, args.batch_size, args.loop, args.device, args.seconds)
        write_private_json(args.out_json, result)  # 0640, like everything the Ascend steps write
        lat = result["latency_ms"]
        chips = f" x{len(args.device)}" if len(args.device) > 1 else ""
        print(f"perf ascend[{result['soc_version']}{chips}] bs{args.batch_size}: throughput {result['throughput']:.2f} img/s, "
              f"NPU compute mean {lat['mean']} ms p99 {lat['p99']} ms")
        for row in result.get("per_device", []):
            print(f"  device {row['device']}: throughput {row['throughput']:.2f} img/s")
        return 0
    if not (args.input and args.output):
        raise KitError("infer mode needs --input BINS_DIR and --output OUT_DIR (or give --loop N for perf mode)")
    dirname = args.output_dirname or time.strftime("%Y_%m_%d-%H_%M_%S")
    with step("infer", f"ais_bench bs{args.batch_size} {args.input}"):
        ascend.ais_infer(args.om, args.input, args.output, dirname, args.batch_size, args.device)
    return 0


if __name__ == "__main__":
    run(main)
