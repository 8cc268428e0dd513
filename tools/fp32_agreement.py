#!/usr/bin/env python3
"""Add an Ascend run's label agreement with the ORT fp32 labels of the same frames to its report."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Sequence

from semask.core.cli import run
from semask.evaluate.fp32_agreement import add_to_report
from semask.spec import DEFAULT_LABEL_DTYPE, LABEL_DTYPES


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--report", required=True, type=Path, help="the run's report JSON (score.py --out-json)")
    p.add_argument("--pred", required=True, type=Path, help="the run's <run>_summary.json")
    p.add_argument("--reference", required=True, type=Path, help="the ORT fp32 run's <run>_summary.json")
    p.add_argument("--label-dtype", choices=LABEL_DTYPES, default=DEFAULT_LABEL_DTYPE)
    a = p.parse_args(argv)
    print(add_to_report(a.report, a.pred, a.reference, a.label_dtype)[1])
    return 0


if __name__ == "__main__":
    run(main)
