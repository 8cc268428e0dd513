"""The makes of this checkout that are running now, from the plan files each one wrote (`.make/plan.<pid>.json`).

Why: `make distclean` removes `.venv` and `.make`, which every make of the checkout uses, whatever its
ARTIFACTS; a run on another ARTIFACTS would die mid-step (`No module named 'cv2'`). Each make writes its
plan at parse time under its own pid, so the live ones are known without a registry. Standard library only.
"""
from __future__ import annotations

import json
from pathlib import Path

from semask.core.locks import lineage


def _is_make(pid: int) -> bool:
    """True while `pid` is a running make (a pid reused by another program is not)."""
    try:
        argv0 = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].decode(errors="replace")
    except OSError:
        return False
    return "make" in Path(argv0).name


def live_makes(folder: Path, owner_pid: int) -> list[tuple[int, str]]:
    """(pid, ARTIFACTS) of every running make whose plan is in `folder`, this make and its parents left out."""
    ours = lineage(owner_pid)
    found = []
    for path in sorted(Path(folder).glob("plan.*.json")):
        pid = path.name.split(".")[1]
        if not pid.isdigit() or pid in ours or not _is_make(int(pid)):
            continue
        try:
            artifacts = json.loads(path.read_text(encoding="utf-8"))["values"]["ARTIFACTS"]
        except (OSError, ValueError, KeyError, TypeError):
            artifacts = "?"
        found.append((int(pid), str(artifacts)))
    return found


def running_line(folder: Path, owner_pid: int) -> str | None:
    """The refusal of `make distclean` while other makes of this checkout run, or None."""
    makes = live_makes(folder, owner_pid)
    if not makes:
        return None
    which = ", ".join(f"pid {pid} on ARTIFACTS={arts}" for pid, arts in makes)
    return (f"error: {len(makes)} other make(s) of this checkout are running ({which}) and use .venv and .make, "
            "which `make distclean` removes; nothing was run: wait for them to finish, then run it again")
