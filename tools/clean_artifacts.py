#!/usr/bin/env python3
"""`make clean`: delete what the kit made under ARTIFACTS, and refuse when anything else is there."""
import argparse
from pathlib import Path

from semask.run import workspace
from semask.core.cli import run


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--artifacts", type=Path, required=True)
    p.add_argument("--data-root", type=Path, action="append", default=[])
    p.add_argument("--checkout", type=Path, required=True)
    p.add_argument("--nowait", action="store_true", help="refuse instead of waiting for a step still writing")
    a = p.parse_args(argv)
    print(workspace.clean(a.artifacts, a.data_root, a.checkout, a.nowait))
    return 0


if __name__ == "__main__":
    run(main)
