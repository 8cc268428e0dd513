"""What tools/results_table.py prints, one function per verb: one run's files (the report step and
`make perf`), a named or the last run (`make table`), every run (`make tables`).

Why apart from `table.py`: that module builds rows and finds runs; these decide what a verb shows,
where it is written and which run becomes the last one, so the CLI stays argparse plus one call.
"""
from __future__ import annotations

from pathlib import Path

from semask.core.fsio import atomic_write_text
from semask.run import table
from semask.run.plan import write_latest


def run_files(report: Path | None = None, summary: Path | None = None, perf: Path | None = None,
              provenance: Path | None = None, smoke: bool = False, out: Path | None = None,
              artifacts: Path | None = None, weights: str | None = None) -> str:
    """The table of one run from its files (a score report and summary, or a perf JSON and its provenance);
    also written to `out`, and recorded as ARTIFACTS' last run when `artifacts` is given."""
    text = table.render(report, summary, perf, provenance, smoke, weights)
    if artifacts is not None:
        write_latest(artifacts, report or perf)
    if out is not None:
        atomic_write_text(out, text)
    return text


def named_run(artifacts: Path, run: str | None = None) -> str:
    """`make table [RUN=<name>]`: the run's path, then its table (the last run when `run` is empty)."""
    path = table.resolve_run(artifacts, run)
    return f"run: {path}\n" + table.render_run(path)


def every_run(artifacts: Path) -> str:
    """`make tables`: one table of every run under ARTIFACTS."""
    return table.render_all(artifacts)
