#!/usr/bin/env python3
"""Validate a Cityscapes DATA_ROOT and write labelTrainIds ground truth plus labels.json (written last)."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Sequence

from semask.core.cli import positive_int, run
from semask.data.labels import prepare_labels
from semask.spec import LABEL_MODES


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-root", required=True, type=Path, help="Cityscapes root holding leftImg8bit/ and gtFine/")
    parser.add_argument("--out", required=True, type=Path, help="labels folder (never inside DATA_ROOT)")
    parser.add_argument("--limit", type=positive_int("LIMIT"), default=None, help="first N frames in natural order")
    parser.add_argument("--labels", choices=LABEL_MODES, default=LABEL_MODES[0], help="trainIds from polygon JSON (default) or labelIds LUT")
    parser.add_argument("--height", type=positive_int("--height"), default=None, help="default: the dataset's size")
    parser.add_argument("--width", type=positive_int("--width"), default=None, help="default: the dataset's size")
    parser.add_argument("--jobs", type=positive_int("--jobs"), default=None, help="worker processes (default: all cores)")
    args = parser.parse_args(argv)
    size = (args.height, args.width) if args.height and args.width else None
    result = prepare_labels(args.data_root, args.out, args.limit, args.labels, size, args.jobs)
    state = "updated" if result["manifest_changed"] else "unchanged"
    print(f"{result['count']} label images in {args.out} ({result['written']} written); {result['manifest']} {state}")
    return 0


if __name__ == "__main__":
    run(main)
