#!/usr/bin/env python3
"""Write the provenance record of a run (commit, artifact sha256s, variables, versions, host, command)."""
import argparse
from pathlib import Path

from semask.run import plan
from semask.core.cli import run
from semask.core.fsio import atomic_write_json
from semask.run.provenance import plan_record


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--plan", type=Path, required=True, help="the run's plan (make's $(PLAN_JSON))")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--command", default="", help="the full command line that started the run")
    a = p.parse_args(argv)
    run_plan = plan.load(a.plan)
    atomic_write_json(a.out, plan_record(run_plan, a.command, run_plan.runner.host_facts()))
    return 0


if __name__ == "__main__":
    run(main)
