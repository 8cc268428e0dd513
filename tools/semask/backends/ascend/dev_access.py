"""Whether this user may open the NPU: read and write on /dev/davinci_manager and /dev/davinci<N> (issue 25 §5).

Why: a non-root user outside the driver's group (HwHiAiUser) gets through the export and the compile, then ais_bench
fails to open the device. Checked while make reads the Makefile, from the nodes' owner, group and mode (the kernel's
rule for a non-root user), with the fix. Root, and a host without the driver's nodes, have nothing to check.
Standard library only (parse time).
"""
from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Iterable, Sequence

DRIVER_GROUP = "HwHiAiUser"


def _can_read_write(st: os.stat_result, euid: int, groups: set) -> bool:
    mode = stat.S_IMODE(st.st_mode)
    if st.st_uid == euid:
        return mode & 0o600 == 0o600
    if st.st_gid in groups:
        return mode & 0o060 == 0o060
    return mode & 0o006 == 0o006


def device_access_problem(devices: Sequence[int], dev: Path | str = "/dev", euid: int | None = None,
                          groups: Iterable[int] | None = None) -> str | None:
    """One line naming the device nodes this user cannot read and write, with the fix; None when all is well."""
    euid = os.geteuid() if euid is None else euid
    dev = Path(dev)
    if euid == 0 or not (dev / "davinci_manager").exists():
        return None
    groups = set(os.getgroups()) | {os.getegid()} if groups is None else set(groups)
    nodes = [dev / "davinci_manager"] + [dev / f"davinci{d}" for d in devices if (dev / f"davinci{d}").exists()]
    denied = []
    for node in nodes:
        st = node.stat()
        if not _can_read_write(st, euid, groups):
            denied.append(f"{node} (uid {st.st_uid}, gid {st.st_gid}, mode {stat.S_IMODE(st.st_mode):o})")
    if not denied:
        return None
    return (f"this user (uid {euid}) cannot read and write {', '.join(denied)}, so ais_bench could not open the NPU; "
            f"non-root users must be in the driver's group: `sudo usermod -aG {DRIVER_GROUP} $USER`, then log in again")
