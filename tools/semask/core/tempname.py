"""Temporary names the kit can recognise as its own: a pid, a random part and a check of both.

Why: `make clean` deletes a killed write's leftovers, and a name shape alone (`.x.1.tmp.md`) is easy to
meet by chance in a user's own files. A kit temp name carries `<pid>-<random><check>`, where the check is
the first hex of the sha256 of everything before it; a look-alike fails it. What follows the check is free
(ais_bench names `<temp>_summary.json` after the folder the kit named).
Standard library only.
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import re
import secrets
import shutil
from pathlib import Path
from typing import Iterator

RANDOM_HEX, CHECK_HEX = 8, 6
_TOKEN = re.compile(rf"(\d+)-([0-9a-f]{{{RANDOM_HEX}}})([0-9a-f]{{{CHECK_HEX}}})")


def _check(head: str) -> str:
    return hashlib.sha256(f"semask-kit-temp:{head}".encode()).hexdigest()[:CHECK_HEX]


def temp_name(prefix: str, suffix: str = "", pid: int | None = None) -> str:
    """`<prefix><pid>-<random><check><suffix>`, a name `is_temp_name` accepts."""
    head = f"{prefix}{os.getpid() if pid is None else pid}-{secrets.token_hex(RANDOM_HEX // 2)}"
    return f"{head}{_check(head)}{suffix}"


def is_temp_name(name: str) -> bool:
    """True when `name` was made by `temp_name` (its check matches)."""
    return temp_pid(name) is not None


def temp_pid(name: str) -> int | None:
    """The pid a kit temp name carries, or None for any other name."""
    for m in _TOKEN.finditer(name):
        if _check(name[: m.start(3)]) == m.group(3):
            return int(m.group(1))
    return None


def temp_file(folder: Path, prefix: str, suffix: str = "") -> Path:
    """Create a new empty file with a kit temp name in `folder` (never an existing one)."""
    while True:
        path = Path(folder) / temp_name(prefix, suffix)
        try:
            os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
            return path
        except FileExistsError:
            continue


def temp_dir(folder: Path, prefix: str, suffix: str = "") -> Path:
    """Create a new folder with a kit temp name in `folder`."""
    while True:
        path = Path(folder) / temp_name(prefix, suffix)
        try:
            path.mkdir(mode=0o700)
            return path
        except FileExistsError:
            continue


@contextlib.contextmanager
def scratch_dir(folder: Path, prefix: str) -> Iterator[Path]:
    """A kit temp folder in `folder`, removed with its content when the block ends."""
    path = temp_dir(folder, prefix)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
