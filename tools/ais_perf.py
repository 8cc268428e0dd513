#!/usr/bin/env python3
"""Pure-inference throughput of an .om with ais_bench (`--loop`, zero data), written as a perf JSON
(the Ascend counterpart of tools/perf.py; tools/ais_infer.py makes predictions).

Uses `python -m ais_bench` of this interpreter unless $AIS_BENCH names another command.
"""
from __future__ import annotations

import argparse
from typing import Sequence

from semask.core.cli import positive_int, run
from semask.backends.ascend.devices import device_list_arg
from semask.core.progress import loop_arg, step
from semask.backends.ascend import toolchain as ascend
from semask.backends.ascend.fs import write_private_json


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--om", required=True, help=".om compiled by tools/atc_compile.py (sidecar FILE.json next to it)")
    p.add_argument("--batch-size", required=True, type=positive_int("BS"))
    p.add_argument("--device", default=[0], type=device_list_arg,
                   help="NPU id 0-255, or a comma list (ais_bench's multi-device mode), e.g. 0,1")
    p.add_argument("--loop", default=None, type=loop_arg, help="LOOP: pure-inference runs, or auto (the default)")
    p.add_argument("--seconds", default=60.0, type=float, help="PERF_SECONDS: time budget of --loop auto")
    p.add_argument("--out-json", required=True, help="result JSON (0640, like everything the Ascend steps write)")
    p.add_argument("--weights", default=None, help="the run's WEIGHTS (a .pth/.npz or 'random'): the model's sidecar "
                   "must name them (make passes it); without it only the model's sha256 is checked")
    args = p.parse_args(argv)
    with step("perf", f"ais_bench bs{args.batch_size} LOOP={args.loop or 'auto'}"):
        result = ascend.ais_perf(args.om, args.batch_size, args.loop, args.device, args.seconds, weights=args.weights)
    write_private_json(args.out_json, result)
    print(ascend.perf_line(result))
    return 0


if __name__ == "__main__":
    run(main)
