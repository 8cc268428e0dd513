#!/usr/bin/env python3
"""Print a results table.

  results_table.py report --report R.json [--summary S.json] [--smoke] [--out T.md] [--artifacts A]
  results_table.py perf   --perf P.json [--provenance P.provenance.json] [--out T.md] [--artifacts A]
  results_table.py run    --artifacts A [--run NAME]      (make table: the last run, or RUN=NAME)
  results_table.py all    --artifacts A                   (make tables: every run under ARTIFACTS)
"""
import argparse
from pathlib import Path

from semask.core.cli import run
from semask.run.table_views import every_run, named_run, perf_files, report_files

WEIGHTS_HELP = "the run's WEIGHTS: the model that made the numbers must have been made from them (make passes it)"
LATEST_HELP = "ARTIFACTS: also record this run as the last one (what `make table` prints)"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    verbs = p.add_subparsers(dest="verb", required=True, metavar="{report,perf,run,all}")
    rep = verbs.add_parser("report", help="the table of one scored run")
    rep.add_argument("--report", type=Path, required=True, help="score report JSON")
    rep.add_argument("--summary", type=Path, help="inference summary JSON (fps of the accuracy run)")
    rep.add_argument("--smoke", action="store_true", help="mark the table as a smoke run")
    rep.add_argument("--out", type=Path, help="also write the table here")
    rep.add_argument("--artifacts", type=Path, help=LATEST_HELP)
    rep.add_argument("--weights", default=None, help=WEIGHTS_HELP)
    rep.set_defaults(view=lambda a: report_files(a.report, a.summary, a.smoke, a.out, a.artifacts, a.weights))
    perf = verbs.add_parser("perf", help="the table of one perf measurement")
    perf.add_argument("--perf", type=Path, required=True, help="perf JSON (pure-inference throughput)")
    perf.add_argument("--provenance", type=Path, help="its provenance JSON")
    perf.add_argument("--out", type=Path, help="also write the table here")
    perf.add_argument("--artifacts", type=Path, help=LATEST_HELP)
    perf.add_argument("--weights", default=None, help=WEIGHTS_HELP)
    perf.set_defaults(view=lambda a: perf_files(a.perf, a.provenance, a.out, a.artifacts, a.weights))
    one = verbs.add_parser("run", help="the last run under ARTIFACTS, or --run NAME")
    one.add_argument("--artifacts", type=Path, required=True, help="ARTIFACTS")
    one.add_argument("--run", default=None, help="RUN: a run name under ARTIFACTS (`all` lists them)")
    one.set_defaults(view=lambda a: named_run(a.artifacts, a.run))
    every = verbs.add_parser("all", help="one table of every run under ARTIFACTS")
    every.add_argument("--artifacts", type=Path, required=True, help="ARTIFACTS")
    every.set_defaults(view=lambda a: every_run(a.artifacts))
    a = p.parse_args(argv)
    print(a.view(a), end="")
    return 0


if __name__ == "__main__":
    run(main)
