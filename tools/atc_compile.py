#!/usr/bin/env python3
"""Compile a simplified ONNX into an Ascend .om with atc (exact documented command line).

Extra atc flags go in one quoted string, joined to the option with '=' (argparse takes a separate
value that starts with '--' for an option): --extra='--op_select_implmode=high_precision'.
Writes FILE.om, FILE.json (sidecar: command, soc, precision, batch size, sha256s, op placement from
`atc --mode=1`) and FILE.atc.log, all 0640 in a 0750 folder (what ais_bench accepts).
"""
from __future__ import annotations

import argparse
import shlex
from typing import Sequence

from semask.backends.ascend import toolchain as ascend
from semask.backends.ascend.jobs import AtcJob
from semask.backends.ascend.knobs import check_device
from semask.spec import (ATC_PRECISION_MODES_V2, DEFAULT_INPUT_DTYPE, DEFAULT_PRECISION, INPUT_DTYPES,
                         OP_SELECT_IMPLMODES)
from semask.core.cli import positive_int, run


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--onnx", required=True, help="simplified static-shape ONNX (input 'image')")
    p.add_argument("--output-om", required=True, help="final .om path")
    p.add_argument("--batch-size", required=True, type=positive_int("BS"))
    p.add_argument("--height", required=True, type=positive_int("HEIGHT"))
    p.add_argument("--width", required=True, type=positive_int("WIDTH"))
    p.add_argument("--soc", required=True, help="SOC, e.g. Ascend310P3, or 'auto' (read npu-smi info)")
    p.add_argument("--precision", default=None, help=f"atc --precision_mode (default {DEFAULT_PRECISION})")
    p.add_argument("--precision-v2", default=None,
                   help=f"atc --precision_mode_v2 (instead of --precision): {', '.join(ATC_PRECISION_MODES_V2)}")
    p.add_argument("--op-select-implmode", default=None, help=f"atc --op_select_implmode: {'|'.join(OP_SELECT_IMPLMODES)}")
    p.add_argument("--input-dtype", default=DEFAULT_INPUT_DTYPE, choices=INPUT_DTYPES)
    p.add_argument("--device", default=0, type=check_device, help="NPU (0-255) whose chip SOC=auto reads")
    p.add_argument("--extra", action="append", default=[], help="extra atc flags as --extra='--flag=v ...' (repeatable)")
    p.add_argument("--weights", default=None, help="the run's WEIGHTS (a .pth/.npz or 'random'): the model's sidecar "
                   "must name them (make passes it); without it only the model's sha256 is checked")
    p.add_argument("--atc-python", default=None, help="ATC_PYTHON: CANN's Python, first on PATH for atc alone")
    p.add_argument("--keep-dtype", default=None, help="KEEP_DTYPE: atc --keep_dtype config")
    p.add_argument("--op-precision", default=None, help="OP_PRECISION: atc --op_precision_mode .ini")
    p.add_argument("--mixlist", default=None, help="MIXLIST: atc --modify_mixlist .json")
    args = p.parse_args(argv)
    extra = [tok for chunk in args.extra for tok in shlex.split(chunk)]
    precision = args.precision or (None if args.precision_v2 else DEFAULT_PRECISION)
    job = AtcJob(args.onnx, args.output_om, args.batch_size, args.height, args.width, args.soc,
                 precision, args.input_dtype, extra, args.device, precision_v2=args.precision_v2,
                 op_select_implmode=args.op_select_implmode, weights=args.weights,
                 atc_python=args.atc_python, knobs={"KEEP_DTYPE": args.keep_dtype,
                                                    "OP_PRECISION": args.op_precision, "MIXLIST": args.mixlist})
    info = ascend.compile_om(job)
    mode = info["precision_mode"] or f"v2 {info['precision_mode_v2']}"
    print(f"om: {info['om']} (soc {info['soc_version']}, {mode}, bs{info['batch_size']})")
    return 0


if __name__ == "__main__":
    run(main)
