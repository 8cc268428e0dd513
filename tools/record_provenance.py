#!/usr/bin/env python3
"""Write the provenance record of a run (commit, artifact sha256s, variables, versions, host, command)."""
import argparse
from pathlib import Path

from semask import plan
from semask.core.cli import run
from semask.core.fsio import atomic_write_json
from semask.core.provenance import plan_record


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--plan", type=Path, required=True, help="the run's plan (make's $(PLAN_JSON))")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--command", default="", help="the full command line that started the run")
    a = p.parse_args(argv)
    atomic_write_json(a.out, plan_record(plan.load(a.plan), a.command))
    return 0


if __name__ == "__main__":
    run(main)
