"""File-system helpers: atomic writes, JSON reads, hashing, natural sort, free-space checks.

Every artifact the kit writes goes through `atomic_path` / `atomic_write_*` so that a killed
run never leaves a half-written file under a final name.
"""
from __future__ import annotations

import contextlib
import errno
import glob
import hashlib
import json
import os
import re
import shutil
from pathlib import Path
from typing import Any, Iterator

from semask.core import ledger
from semask.core.errors import KitError
from semask.core.procs import pid_alive
from semask.core.tempname import is_temp_name, temp_file

_DIGITS = re.compile(r"(\d+)")


def natural_key(name: str) -> list:
    """Sort key that compares digit runs as integers and text case-insensitively (as ais_bench)."""
    return [int(part) if part.isdigit() else part.lower() for part in _DIGITS.split(name)]


def ensure_writable_dir(path: Path, what: str = "output folder") -> Path:
    """Create `path` (with parents) and check we can write there; raise KitError naming it if not."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise KitError(f"cannot create {what} {path}: {exc.strerror}; choose a writable location") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise KitError(f"{what} {path} is not writable; fix its permissions or choose another location")
    return path


@contextlib.contextmanager
def atomic_path(final: Path | str, suffix: str | None = None, sha256: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside `final`; rename it onto `final` only if the block succeeds, then record
    it in its ARTIFACTS root's ledger (semask.core.ledger; `sha256`: the content's, when the caller has it)."""
    final = Path(final)
    ensure_writable_dir(final.parent)
    for stale in final.parent.glob(f".{glob.escape(final.name)}.*.tmp*"):  # left by a killed earlier write
        if is_temp_name(stale.name) and not _writer_alive(stale.name[len(final.name) + 2:]):
            stale.unlink(missing_ok=True)
    # the pid in the name: a concurrent writer's temp file is never taken for a dead run's leftover;
    # the checked random part (semask.core.tempname): `make clean` tells it from a user's look-alike
    tmp_path = temp_file(final.parent, f".{final.name}.", suffix or f".tmp{final.suffix}")
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp_path, 0o666 & ~umask)  # mkstemp makes 0600; published files get the usual mode
    try:
        yield tmp_path
        os.replace(tmp_path, final)
        ledger.record(final, sha256)
    except OSError as exc:
        if exc.errno in DISK_FULL:
            raise disk_full_error(final, exc) from None
        raise
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


DISK_FULL = (errno.ENOSPC, errno.EDQUOT)


def free_bytes(folder: Path | str) -> int:
    """Free bytes on the filesystem holding `folder` (its nearest existing ancestor)."""
    probe = Path(folder)
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    return shutil.disk_usage(probe).free


def disk_full_error(path: Path | str, exc: OSError) -> KitError:
    """The one line for a full disk while writing `path`: the file, the free space, what was kept.

    Why here: a write() that fails for space carries no file name, and cv2/libpng none at all; every
    atomic write knows its final name, and its temporary file is gone by the time this is shown."""
    path = Path(path)
    free = size_text(free_bytes(path.parent))
    return KitError(f"no space left on the device writing {path} ({exc.strerror}; {free} free "
                    "there): nothing half-written was kept, and the files finished before it stay; free some space "
                    "or set ARTIFACTS to a larger disk, then run the step again")


def _writer_alive(rest: str) -> bool:
    """True when a temp name's `<pid>-...` part names another live process (its write is in progress)."""
    pid_text = rest.split("-", 1)[0]
    if not pid_text.isdigit() or "-" not in rest or int(pid_text) == os.getpid():
        return False
    return pid_alive(int(pid_text))


def atomic_write_bytes(final: Path | str, data: bytes) -> None:
    """Write bytes to `final` atomically."""
    with atomic_path(final, sha256=hashlib.sha256(data).hexdigest()) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(data)


def atomic_write_text(final: Path | str, text: str) -> None:
    """Write text to `final` atomically."""
    atomic_write_bytes(final, text.encode("utf-8"))


def atomic_write_json(final: Path | str, obj: Any) -> None:
    """Write `obj` as indented JSON to `final` atomically."""
    atomic_write_text(final, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def write_if_changed(final: Path | str, text: str) -> bool:
    """Write `text` atomically unless `final` already holds exactly it; True when written.

    Why: an unchanged file keeps its mtime, so make (stamps, manifests) sees nothing new."""
    try:
        if Path(final).read_text(encoding="utf-8") == text:
            return False
    except (OSError, ValueError):
        pass
    atomic_write_text(final, text)
    return True


def load_json(path: Path | str) -> Any:
    """Whatever JSON `path` holds, or None when the file is missing or unreadable (the caller checks the shape)."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def read_json(path: Path | str | None) -> dict[str, Any] | None:
    """The JSON object in `path`, or None when no path is given, the file is missing or unreadable, or it
    holds something else: for files whose absence means "not done yet" (nothing in them is trusted then)."""
    data = load_json(path) if path else None
    return data if isinstance(data, dict) else None


def sha256_file(path: Path | str, chunk: int = 1 << 22) -> str:
    """Hex sha256 of a file, streamed."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while True:
            block = fh.read(chunk)
            if not block:
                break
            digest.update(block)
    return digest.hexdigest()


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def check_free_space(folder: Path | str, needed_bytes: int, step: str) -> None:
    """Refuse to start `step` when the filesystem holding `folder` has less than `needed_bytes` free."""
    folder = Path(folder)
    free = free_bytes(folder)
    if free < needed_bytes:
        raise KitError(
            f"{step} needs about {size_text(needed_bytes)} in {folder} but only {size_text(free)} is free; "
            "free some space, set ARTIFACTS to a larger disk, or use LIMIT / a smaller dtype"
        )


def size_text(n: int) -> str:
    """'1.23 GB (1234567890 bytes)': readable at any scale, exact for comparisons."""
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:.2f} {unit} ({n} bytes)"
    return f"{n} bytes"
