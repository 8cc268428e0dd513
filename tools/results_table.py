#!/usr/bin/env python3
"""Print the results table (measured row, then the published reference rows)."""
import argparse
from pathlib import Path

from semask.core.cli import run
from semask.evaluate.table import render


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--report", type=Path, help="score report JSON")
    p.add_argument("--summary", type=Path, help="inference summary JSON (fps of the accuracy run)")
    p.add_argument("--perf", type=Path, help="perf JSON (pure-inference throughput)")
    p.add_argument("--provenance", type=Path, help="provenance JSON when there is no report")
    p.add_argument("--smoke", action="store_true", help="mark the table as a smoke run")
    p.add_argument("--out", type=Path, help="also write the table here")
    a = p.parse_args(argv)
    table = render(a.report, a.summary, a.perf, a.provenance, a.smoke)
    print(table, end="")
    if a.out:
        from semask.core.fsio import atomic_write_text
        atomic_write_text(a.out, table)
    return 0


if __name__ == "__main__":
    run(main)
