#!/usr/bin/env python3
"""Print a results table: of one run's files, of the last run (`make table`), of a named run
(`make table RUN=<name>`), or of every run under ARTIFACTS (`make tables`)."""
import argparse
from pathlib import Path

from semask.core.cli import run
from semask.evaluate import table as t


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--report", type=Path, help="score report JSON")
    p.add_argument("--summary", type=Path, help="inference summary JSON (fps of the accuracy run)")
    p.add_argument("--perf", type=Path, help="perf JSON (pure-inference throughput)")
    p.add_argument("--provenance", type=Path, help="provenance JSON when there is no report")
    p.add_argument("--smoke", action="store_true", help="mark the table as a smoke run")
    p.add_argument("--out", type=Path, help="also write the table here")
    p.add_argument("--artifacts", type=Path, help="ARTIFACTS: with --report/--perf, record this run as the last one; "
                                                   "alone, print the last run (or --run NAME, or --all)")
    p.add_argument("--run", default=None, help="RUN: a run name under ARTIFACTS (see --all)")
    p.add_argument("--all", action="store_true", help="one table of every run under ARTIFACTS")
    p.add_argument("--weights", default=None, help="with --report/--perf: the run's WEIGHTS; the model that made the "
                                                   "numbers must have been made from them (make passes it)")
    a = p.parse_args(argv)
    if a.report or a.perf:
        table = t.render(a.report, a.summary, a.perf, a.provenance, a.smoke, a.weights)
        if a.artifacts:
            t.write_latest(a.artifacts, a.report or a.perf)
    elif a.artifacts and a.all:
        table = t.render_all(a.artifacts)
    elif a.artifacts:
        path = t.resolve_run(a.artifacts, a.run)
        print(f"run: {path}")
        table = t.render_run(path)
    else:
        p.error("give --report/--perf, or --artifacts (with --run NAME or --all)")
    print(table, end="")
    if a.out:
        from semask.core.fsio import atomic_write_text
        atomic_write_text(a.out, table)
    return 0


if __name__ == "__main__":
    run(main)
