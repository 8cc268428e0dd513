#!/usr/bin/env python3
"""Download the official SeMask checkpoint from Google Drive (or accept an existing file),
validate it against the kit's model and lock its sha256 in env/weights.lock."""
from __future__ import annotations

import argparse
from typing import Sequence

from semask.model import weights as fetch
from semask.core.cli import run
from semask.spec import OFFICIAL_MODELS


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--model", required=True, choices=OFFICIAL_MODELS, help="MODEL")
    p.add_argument("--out", required=True, help="checkpoint path, e.g. data/weights/semask_small.pth")
    p.add_argument("--lock", required=True, help="sha256 lock file, e.g. env/weights.lock")
    args = p.parse_args(argv)
    info = fetch.fetch_weights(args.model, args.out, args.lock)
    print(f"weights {args.model}: {info['path']} sha256 {info['sha256']} ({info['source']}, locked in {args.lock})")
    return 0


if __name__ == "__main__":
    run(main)
