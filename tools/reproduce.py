#!/usr/bin/env python3
"""`make reproduce`: sweep BS_LIST x PRECISIONS through make's own targets and print the published
table's rows, measured, beside the published figures (Markdown + JSON with provenance)."""
import argparse
from pathlib import Path

from semask.run import plan
from semask.core.cli import run
from semask.run import sweep as reproduce


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--plan", type=Path, required=True, help="the run's plan (make's $(PLAN_JSON))")
    p.add_argument("--make", default="make", help="the make command to run targets with")
    p.add_argument("--command", default="make reproduce", help="the command line, for the provenance")
    a = p.parse_args(argv)
    return reproduce.run(reproduce.Sweep(run=plan.load(a.plan), make=a.make, command=a.command))


if __name__ == "__main__":
    run(main)
