#!/usr/bin/env python3
"""Write a small synthetic Cityscapes val split (exact layout and naming) for tests and demos."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Sequence

from semask.core.cli import positive_int, run
from semask.data.synthetic import make_synthetic
from semask.spec import NATIVE_HEIGHT, NATIVE_WIDTH


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", required=True, type=Path, help="dataset root to create (DATA_ROOT)")
    parser.add_argument("--num", required=True, type=positive_int("--num"), help="number of frames")
    parser.add_argument("--height", type=positive_int("--height"), default=NATIVE_HEIGHT)
    parser.add_argument("--width", type=positive_int("--width"), default=NATIVE_WIDTH)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--split", default="val")
    parser.add_argument("--jobs", type=positive_int("--jobs"), default=None, help="worker processes (default: all cores)")
    args = parser.parse_args(argv)
    fids = make_synthetic(args.out, args.num, (args.height, args.width), args.seed, args.split, args.jobs)
    print(f"wrote {len(fids)} synthetic frames ({args.height}x{args.width}) under {args.out}")
    return 0


if __name__ == "__main__":
    run(main)
