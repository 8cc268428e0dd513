"""atc's host side (issue 25 §7): its compile workers, and what a failed compile's exit status means.

Why: te_fusion compiles ops in TE_PARALLEL_COMPILER worker processes (default 8; CANN documents a cap of
cores x 80 % / chips), which on a small host competes with everything else for RAM; a compile killed by the kernel's
OOM killer shows only a negative status; atc's detailed log is under ~/ascend/log, not in its console output.
"""
from __future__ import annotations

import os
import signal
from typing import Mapping

DEFAULT_WORKERS = 8
LOG_FOLDER = "~/ascend/log (debug/plog)"


def te_parallel(environ: Mapping[str, str], cores: int | None = None, chips: int = 1) -> tuple[dict[str, str], str]:
    """(the environment atc runs in, the line saying how many compile workers it uses and why)."""
    env = dict(environ)
    if env.get("TE_PARALLEL_COMPILER"):
        return env, f"atc: TE_PARALLEL_COMPILER={env['TE_PARALLEL_COMPILER']} (from the environment)"
    cores = cores or os.cpu_count() or 1
    workers = max(1, min(DEFAULT_WORKERS, int(cores * 0.8) // max(1, chips)))
    env["TE_PARALLEL_COMPILER"] = str(workers)
    return env, (f"atc: TE_PARALLEL_COMPILER={workers} (cores x 80 % / chips, at most {DEFAULT_WORKERS}; set "
                 "TE_PARALLEL_COMPILER to override)")


def failure_hint(code: int) -> str:
    """What atc's exit status says, and where its detailed log is."""
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        why = " (out of host memory? the kernel's OOM killer sends SIGKILL)" if -code == signal.SIGKILL else ""
        return f"atc was killed by {name}{why}; its detailed log is under {LOG_FOLDER}"
    return f"exit code {code}; atc's detailed log is under {LOG_FOLDER}"
