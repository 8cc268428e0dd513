#!/usr/bin/env python3
"""Re-hash every artifact under ARTIFACTS against its manifest or sidecar (`make verify`): one line per
changed file, exit 1 when anything changed (its step is marked so the next `make all` redoes it), 0 when
everything matches."""
import argparse
from pathlib import Path

from semask.core.cli import positive_int, run
from semask.run.verify import SHOWN, verify


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--artifacts", type=Path, required=True, help="ARTIFACTS of the runs to check")
    p.add_argument("--jobs", type=positive_int("JOBS"), default=None, help="hashing processes (default: all cores)")
    p.add_argument("--shown", type=positive_int("SHOWN"), default=SHOWN, help="changed files named one per line")
    a = p.parse_args(argv)
    return verify(a.artifacts, a.jobs, a.shown)


if __name__ == "__main__":
    run(main)
