#!/usr/bin/env python3
"""Create ARTIFACTS with the kit's marker (so `make clean` knows the kit made it)."""
import argparse
from pathlib import Path

from semask.run import workspace
from semask.core.cli import run


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--artifacts", type=Path, required=True)
    p.add_argument("--checkout", type=Path, default=Path.cwd(), help="the kit's checkout (make's CURDIR)")
    a = p.parse_args(argv)
    workspace.mark_checked(a.artifacts, a.checkout)
    return 0


if __name__ == "__main__":
    run(main)
