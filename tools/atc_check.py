#!/usr/bin/env python3
"""`make atc-check`: atc's pre-check (--mode=3) of the graph atc would compile, before the long compile.

Prints one line per unsupported op with atc's reason and writes the verdict to --out (JSON). Exit 0 when
every op passes or when this atc has no pre-check (an old CANN: it says so and the compile can still be
tried); exit 2 when ops are unsupported.
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Sequence

from semask.core.cli import run
from semask.backends.ascend import knobs as ascend_knobs
from semask.backends.ascend.backend import atc_precheck


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--onnx", required=True, type=Path, help="the ONNX atc compiles (the _sim_atc.onnx)")
    p.add_argument("--soc", required=True, help="SOC, e.g. Ascend310P3, or auto (read npu-smi info)")
    p.add_argument("--device", default=0, type=ascend_knobs.check_device)
    p.add_argument("--out", required=True, type=Path, help="verdict JSON to write")
    a = p.parse_args(argv)
    atc_precheck(a.onnx, a.soc, a.device, a.out)
    return 0


if __name__ == "__main__":
    run(main)
