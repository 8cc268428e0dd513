#!/usr/bin/env python3
"""`make atc-check`: atc's pre-check (--mode=3) of the graph atc would compile, before the long compile.

Prints one line per unsupported op with atc's reason and writes the verdict to --out (JSON). Exit 0 when
every op passes or when this atc has no pre-check (an old CANN: it says so and the compile can still be
tried); exit 2 when ops are unsupported.
"""
from __future__ import annotations

import argparse
import shutil
from pathlib import Path
from typing import Sequence

from semask.core.cli import run
from semask.core.errors import KitError
from semask.core.tempname import temp_dir
from semask.backends.ascend import fs as ascend_fs, knobs as ascend_knobs, atc_report
from semask.backends.ascend.toolchain import resolve_soc


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--onnx", required=True, type=Path, help="the ONNX atc compiles (the _sim_atc.onnx)")
    p.add_argument("--soc", required=True, help="SOC, e.g. Ascend310P3, or auto (read npu-smi info)")
    p.add_argument("--device", default=0, type=ascend_knobs.check_device)
    p.add_argument("--out", required=True, type=Path, help="verdict JSON to write")
    a = p.parse_args(argv)
    ascend_knobs.check_soc(a.soc)
    if not a.onnx.is_file():
        raise KitError(f"{a.onnx} does not exist; run `make onnx` (BACKEND=ascend) first")
    soc, _ = resolve_soc(a.soc, a.device)
    ascend_fs.private_dir(a.out.parent, "OM folder")
    work = temp_dir(a.out.parent, ".atc-check-")
    try:
        result = atc_report.run_precheck(ascend_fs.real(a.onnx), soc, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    result.update(onnx=str(a.onnx), soc_version=soc)
    ascend_fs.write_private_json(a.out, result)
    for line in atc_report.precheck_lines(result):
        print(line)
    if result.get("available") and not result["ok"]:
        raise KitError(f"atc's pre-check failed for {a.onnx} on {soc} (details above, verdict in {a.out}); "
                       "see docs/ASCEND.md, 'When an op lands on AI CPU'")
    return 0


if __name__ == "__main__":
    run(main)
