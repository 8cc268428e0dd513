"""`python -m semask <step> --plan <plan.json>`: one pipeline step of a make run (semask.run.steps).

Why: the Makefile's recipes name the step and the plan, nothing else; every value comes from the plan
make's parse-time call wrote. The tools/*.py CLIs stay for running a step by hand with plain flags.
"""
from __future__ import annotations

import argparse
from typing import Optional, Sequence


def main(argv: Optional[Sequence[str]] = None) -> int:
    from semask.run import plan as run_plan
    from semask.run.steps import STEPS

    p = argparse.ArgumentParser(prog="python -m semask", description=__doc__)
    p.add_argument("step", choices=sorted(STEPS))
    p.add_argument("--plan", required=True, help="the run's plan (make's $(PLAN_JSON))")
    a = p.parse_args(argv)
    plan = run_plan.load(a.plan)
    STEPS[a.step](plan, plan_command(a.plan))
    return 0


def plan_command(path: str) -> str:
    """The command line that started the run, as the plan file's neighbour recorded it."""
    import json
    from pathlib import Path

    try:
        return str(json.loads(Path(path).read_text(encoding="utf-8")).get("command", ""))
    except (OSError, ValueError):
        return ""


if __name__ == "__main__":
    from semask.core.cli import run

    run(main)
