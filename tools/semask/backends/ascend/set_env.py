"""Source the CANN set_env.sh (ASCEND_SET_ENV) in a child bash and report its exit code and environment.

Why: the Makefile used to source the script inside `$(shell ...)` with its output discarded, so a script
that exits non-zero killed that shell silently: BACKEND=auto printed "could not be used (see the
message above)" with no message above, and never fell back to ONNX Runtime. Sourcing it here, in its
own bash, keeps the exit code and the script's last words, so the caller can name both; the parent's
environment is only changed inside `applied` (no lasting global state). Standard library only.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from typing import Iterator, Mapping

from semask.spec import DEFAULT_SET_ENV

# `.` the script with its output on stderr; only when it succeeds, this Python ($2, by absolute path: the
# script may change PATH) prints the environment it left, NUL-separated, on stdout.
_SOURCE = 'set +u; . "$1" >&2; rc=$?; [ "$rc" -eq 0 ] || exit "$rc"; exec "$2" -c "$3"'
_DUMP = 'import os, sys; sys.stdout.buffer.write(b"".join(k + b"=" + v + b"\\0" for k, v in os.environb.items()))'


@dataclass(frozen=True)
class Sourced:
    """What sourcing ASCEND_SET_ENV gave: its exit code, the resulting environment (when 0), its last output line."""

    path: str
    exit_code: int
    env: dict[str, str] = field(default_factory=dict)
    last_line: str = ""

    @property
    def ok(self) -> bool:
        return self.exit_code == 0

    def failure(self) -> str:
        """'ASCEND_SET_ENV=<path> exited with code 3 (its last line: ...)' for a message."""
        said = f" (its last line: {self.last_line})" if self.last_line else " (it printed nothing)"
        return f"ASCEND_SET_ENV={self.path} exited with code {self.exit_code} when sourced{said}"


def bash() -> str | None:
    """The bash the Makefile's SHELL is: on PATH, else /bin/bash; None when there is none."""
    return shutil.which("bash") or (BIN_BASH if os.access(BIN_BASH, os.X_OK) else None)


BIN_BASH = "/bin/bash"


def source_set_env(path: str, timeout: float = 120) -> Sourced:
    """Source `path` in bash (as the Makefile's recipes do) and return its exit code and environment."""
    shell = bash()
    if shell is None:
        return Sourced(path, 127, last_line="bash is not installed")
    try:
        proc = subprocess.run([shell, "-c", _SOURCE, "semask-set-env", path, sys.executable, _DUMP],
                              capture_output=True, timeout=timeout)
    except OSError as exc:
        return Sourced(path, 126, last_line=f"cannot run {shell}: {exc.strerror}")
    except subprocess.TimeoutExpired:
        return Sourced(path, 124, last_line=f"still running after {timeout:g} s")
    said = [ln.strip() for ln in proc.stderr.decode(errors="replace").splitlines() if ln.strip()]
    last = said[-1][:200] if said else ""
    if proc.returncode != 0:
        return Sourced(path, proc.returncode, last_line=last)
    env = {}
    for item in proc.stdout.split(b"\0"):
        key, sep, value = item.partition(b"=")
        if sep and key:
            env[key.decode(errors="replace")] = value.decode(errors="replace")
    return Sourced(path, 0, env, last)


@contextlib.contextmanager
def applied(env: Mapping[str, str]) -> Iterator[None]:
    """os.environ is `env` inside the block (for which() and the probes' subprocesses), restored after."""
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def default_set_env() -> str:
    """CANN's set_env.sh: $ASCEND_SET_ENV, else the toolkit's default path."""
    return os.environ.get("ASCEND_SET_ENV") or DEFAULT_SET_ENV
