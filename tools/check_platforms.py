#!/usr/bin/env python3
"""Resolve every pin of env/requirements.txt for cp311 on manylinux_2_28 x86_64 and aarch64 without installing
(pip's --dry-run --report against the package registry) and print the table: package, version, x86_64, aarch64."""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Sequence

from semask.run import platforms
from semask.core.cli import run
from semask.core.errors import KitError


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--requirements", type=Path, default=Path("env/requirements.txt"))
    p.add_argument("--python", default=sys.executable, help="the interpreter whose pip queries the registry")
    args = p.parse_args(argv)
    table = platforms.resolve(args.requirements, args.python)
    print(f"Resolved {time.strftime('%Y-%m-%d', time.gmtime())} with pip (--dry-run --only-binary=:all: "
          f"--python-version {platforms.PYTHON_VERSION} --platform <every manylinux tag of the host>) against the "
          "package registry:")
    print(platforms.render(table))
    print(f"glibc >= 2.28 needed by: {', '.join(platforms.needs_glibc_228(table)) or 'none'}")
    gaps = platforms.missing(table)
    if gaps:
        raise KitError(f"no wheel for {', '.join(gaps)}; those hosts cannot install env/requirements.txt as pinned")
    return 0


if __name__ == "__main__":
    run(main)
