"""Running an external tool with its output shown live and kept (atc, ais_bench, sub-makes).

Why: these tools print progress for minutes; the user should see it as it comes, and the kit still
needs the whole text afterwards (to find the tool's version, its error lines or the files it wrote).
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Mapping, Sequence

from semask.core.errors import KitError


def run_streamed(cmd: Sequence[str], cwd: Path | str | None = None,
                 env: Mapping[str, str] | None = None) -> tuple[int, str]:
    """Run `cmd`, echoing its merged stdout+stderr line by line as it comes; return (exit code, full output).

    KitError (one line) when the program does not exist."""
    try:
        proc = subprocess.Popen(list(cmd), cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                errors="replace", bufsize=1, env=None if env is None else dict(env))
    except FileNotFoundError:
        raise KitError(f"cannot run {cmd[0]}: not found") from None
    lines = []
    assert proc.stdout is not None
    for line in proc.stdout:
        sys.stdout.write(line)
        sys.stdout.flush()
        lines.append(line)
    return proc.wait(), "".join(lines)


def pid_alive(pid: int) -> bool:
    """Whether process `pid` exists (one we may not signal still exists)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
