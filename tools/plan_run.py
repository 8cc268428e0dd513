#!/usr/bin/env python3
"""Make's one parse-time call: check the variables, resolve the run, write its plan as a make include.

Prints the include's path (the Makefile includes it), or one `error:` line per mistake and exits 2.
"""
import argparse
import os
from pathlib import Path

from semask.run import resolve


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--owner-pid", type=int, required=True, help="the make process (the shell's $PPID)")
    p.add_argument("--goals", default="", help="$(MAKECMDGOALS)")
    p.add_argument("--dry-run", action="store_true", help="make -n / -q: write nothing under ARTIFACTS")
    p.add_argument("--folder", type=Path, default=Path(".make"), help="where the include and plan JSON go")
    p.add_argument("assignments", nargs="*", help="the command line's NAME=VALUE words")
    a = p.parse_args(argv)
    return resolve.run_for_make(a.assignments, os.environ, a.goals.split(), a.owner_pid, a.dry_run, a.folder)


if __name__ == "__main__":
    raise SystemExit(main())
