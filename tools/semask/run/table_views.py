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


def report_files(report: Path, summary: Path | None = None, smoke: bool = False, out: Path | None = None,
                 artifacts: Path | None = None, weights: str | None = None) -> str:
    """The table of one scored run from its score report (and inference summary); also written to `out`, and
    recorded as ARTIFACTS' last run when `artifacts` is given."""
    return _publish(table.render(report, summary, None, None, smoke, weights), report, out, artifacts)


def perf_files(perf: Path, provenance: Path | None = None, out: Path | None = None, artifacts: Path | None = None,
               weights: str | None = None) -> str:
    """The table of one perf measurement from its perf JSON (and provenance); written and recorded like
    `report_files`."""
    return _publish(table.render(None, None, perf, provenance, False, weights), perf, out, artifacts)


def _publish(text: str, result: Path, out: Path | None, artifacts: Path | None) -> str:
    if artifacts is not None:
        write_latest(artifacts, result)
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
