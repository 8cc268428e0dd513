#!/usr/bin/env python3
"""Cityscapes val images -> one NCHW .bin per image (float32 normalised as upstream, or uint8) + manifest.json."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Sequence

from semask.core.cli import positive_int, run
from semask.data.bins import preprocess
from semask.spec import DEFAULT_INPUT_DTYPE, INPUT_DTYPES, NATIVE_HEIGHT, NATIVE_WIDTH


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-root", required=True, type=Path, help="Cityscapes root holding leftImg8bit/val")
    parser.add_argument("--out", required=True, type=Path, help="flat folder for the .bin files")
    parser.add_argument("--dtype", choices=INPUT_DTYPES, default=DEFAULT_INPUT_DTYPE)
    parser.add_argument("--height", type=positive_int("--height"), default=NATIVE_HEIGHT)
    parser.add_argument("--width", type=positive_int("--width"), default=NATIVE_WIDTH)
    parser.add_argument("--limit", type=positive_int("LIMIT"), default=None, help="first N frames in natural order")
    parser.add_argument("--jobs", type=positive_int("--jobs"), default=None, help="worker processes (default: all cores)")
    args = parser.parse_args(argv)
    result = preprocess(args.data_root, args.out, args.dtype, (args.height, args.width), args.limit, args.jobs)
    state = "updated" if result["manifest_changed"] else "unchanged"
    print(f"{result['count']} bins in {args.out} ({result['written']} written); {result['manifest']} {state}")
    return 0


if __name__ == "__main__":
    run(main)
