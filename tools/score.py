#!/usr/bin/env python3
"""Score prediction .bin files (ais_bench / ORT layout) against prepared Cityscapes labelTrainIds (mmseg mIoU)."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Sequence

from semask.core.cli import positive_int, run
from semask.core.progress import step
from semask.evaluate.scoring import ScoreOptions, score, summary_line
from semask.spec import DEFAULT_LABEL_DTYPE, LABEL_DTYPES


def non_negative(text: str) -> int:
    return 0 if text.strip() == "0" else positive_int("--panels")(text)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pred", required=True, type=Path, help="prediction folder, <run>_summary.json or <run>/sumary.json")
    parser.add_argument("--labels", required=True, type=Path, help="prepare_cityscapes.py --out folder (with labels.json)")
    parser.add_argument("--label-dtype", choices=LABEL_DTYPES, default=DEFAULT_LABEL_DTYPE, help="dtype of the prediction bins")
    parser.add_argument("--height", type=positive_int("--height"), default=None, help="default: label height")
    parser.add_argument("--width", type=positive_int("--width"), default=None, help="default: label width")
    parser.add_argument("--limit", type=positive_int("LIMIT"), default=None, help="score the first N labels that have predictions")
    parser.add_argument("--jobs", type=positive_int("--jobs"), default=None, help="worker processes (default: all cores)")
    parser.add_argument("--out-json", required=True, type=Path)
    parser.add_argument("--out-md", type=Path, default=None)
    parser.add_argument("--panels", type=non_negative, default=0, help="write panels for the first K images")
    parser.add_argument("--data-root", type=Path, default=None, help="DATA_ROOT, needed for --panels")
    parser.add_argument("--panel-dir", type=Path, default=None)
    parser.add_argument("--provenance", type=Path, nargs="*", default=[], help="JSON files merged into the report's provenance")
    parser.add_argument("--title", default=None)
    args = parser.parse_args(argv)
    with step("score", str(args.pred)):
        report = score(ScoreOptions(args.pred, args.labels, args.out_json, args.label_dtype, args.out_md, args.height,
                                    args.width, args.limit, args.jobs, args.panels, args.data_root, args.panel_dir,
                                    args.provenance, args.title))
    print(summary_line(report))
    return 0


if __name__ == "__main__":
    run(main)
