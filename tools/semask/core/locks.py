"""The locks of one ARTIFACTS folder, as files in it: the run lock (`.lock`) and the writers' lock (`.writers`).

Why in core: every step that writes (any CLI, through semask.core.cli.run) takes the writers' lock, and the
run's workspace (semask.run.workspace) takes both; the mechanism is one, its users are many. Standard library only.
"""
from __future__ import annotations

import os
import fcntl
from pathlib import Path

from semask.core.errors import KitError

LOCK = ".lock"
WRITERS = ".writers"
# The environment variable the Makefile exports to its recipes: the ARTIFACTS whose writer lock they take.
ARTIFACTS_ENV = "SEMASK_ARTIFACTS"


class Refused(KitError):
    """A one-line refusal (printed as `error: ...` by the tool or the plan), nothing done. `blames_variables`:
    False when no make variable is wrong (another make runs, the disk is read-only): make then says so."""

    def __init__(self, message: str, blames_variables: bool = True) -> None:
        super().__init__(message)
        self.blames_variables = blames_variables


def try_lock(fd: int, exclusive: bool = True) -> bool:
    """Take flock on `fd` without waiting; False when another holder has it (then nothing is taken)."""
    try:
        fcntl.flock(fd, (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def lineage(pid: int) -> set[str]:
    """`pid` and its ancestors, as text (from /proc; just `pid` where /proc is absent)."""
    found = set()
    while pid > 1 and str(pid) not in found:
        found.add(str(pid))
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
            pid = int(stat.rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            break
    return found


def writer_lock(artifacts: Path) -> int | None:
    """Hold ARTIFACTS' writer lock for the rest of this process (a step that writes there); return its fd.

    Why this and not "the child stops when make dies": make's child is a shell, then python, and a
    SIGKILL to make reaches neither (PR_SET_PDEATHSIG fires on the death of the direct parent, the
    shell, which lives on), nor can the run-lock holder find make's children once they are orphaned.
    A lock held by the writing process itself needs neither: it lasts exactly as long as the writer,
    whoever is killed. Each step takes it shared (a run's steps do not exclude one another); a new
    run's preflight takes it exclusively once, holding the run lock, so it waits for (or, NOWAIT=1,
    refuses) any step an earlier, killed make left writing. A step whose make is already gone when it
    starts (the run lock names a make that is not its ancestor) stops before writing anything.
    None when ARTIFACTS has no lock file (not a make run) or the lock cannot be taken.
    """
    path = artifacts / WRITERS
    if not (artifacts / LOCK).is_file():
        return None
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError:
        return None
    fcntl.flock(fd, fcntl.LOCK_SH)
    try:
        holder = (artifacts / LOCK).read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        holder = ""
    if holder not in lineage(os.getpid()):  # empty: a new run is writing its pid there right now
        os.close(fd)
        raise Refused(f"the make that started this step is gone and ARTIFACTS={artifacts} now belongs to another "
                      f"run (pid {holder}); nothing was written, run make again")
    return fd
