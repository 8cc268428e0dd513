"""The kit's record of every file it wrote below an ARTIFACTS folder: path, size, sha256, identity.

Why: `make clean` must delete only what the kit made, and `make verify` must catch a result edited
behind its back (a perf JSON set to 999 fps with its mtime put back). A name or a JSON key proves
neither: a user's `notes.json` can hold `{"kind": ...}`. Every atomic write (semask.core.fsio) into a
folder below an ARTIFACTS root (the folder holding MARKER) appends one line to `<root>/RECORDS`,
each carrying WRITTEN_BY; the last line for a path wins. Appends are single `write` calls on an
O_APPEND descriptor, so concurrent steps never tear one another's lines. Standard library only.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from semask.core.errors import KitError

MARKER = ".semask-artifacts"  # the file that makes a folder an ARTIFACTS root (semask.run.workspace.mark)
RECORDS = ".records.jsonl"
WRITTEN_BY = {"written_by": "semask-kit"}  # the field every record (and journal header) the kit writes carries


def identity(st: os.stat_result) -> str:
    """mtime, ctime and inode: a rewrite or replacement changes one of them (ctime cannot be set back)."""
    return f"{st.st_mtime_ns} {st.st_ctime_ns} {st.st_ino}"


def is_kit_record(obj: object) -> bool:
    return isinstance(obj, dict) and all(obj.get(k) == v for k, v in WRITTEN_BY.items())


def root_of(path: Path) -> Path | None:
    """The ARTIFACTS root holding `path` (its nearest ancestor with MARKER), resolved; None outside any."""
    folder = Path(os.path.realpath(Path(path).parent))
    for candidate in (folder, *folder.parents):
        if (candidate / MARKER).is_file():
            return candidate
    return None


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()


def record(path: Path, sha256: str | None = None) -> None:
    """Append `path`'s record to its ARTIFACTS root's ledger (nothing outside an ARTIFACTS root)."""
    path = Path(path)
    root = root_of(path)
    if root is None:
        return
    st = os.stat(path)
    rel = Path(os.path.realpath(path)).relative_to(root).as_posix()
    line = json.dumps({**WRITTEN_BY, "path": rel, "bytes": st.st_size, "sha256": sha256 or sha256_file(path),
                       "identity": identity(st)}) + "\n"
    fd = os.open(root / RECORDS, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


def load(root: Path) -> dict[str, dict]:
    """path (relative to `root`) -> its last kit record; torn or foreign lines are ignored."""
    out: dict[str, dict] = {}
    try:
        text = (Path(root) / RECORDS).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return out
    for line in text.splitlines():
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        if is_kit_record(rec) and isinstance(rec.get("path"), str) and isinstance(rec.get("sha256"), str):
            out[rec["path"]] = rec
    return out


def mismatch(root: Path, rec: dict) -> str | None:
    """Why the file `rec` names is not the one the kit wrote (missing, size, content), or None."""
    path = Path(root) / rec["path"]
    try:
        st = os.stat(path, follow_symlinks=False)
    except OSError:
        return f"{path} is missing"
    if rec.get("bytes") is not None and st.st_size != rec["bytes"]:
        return f"{path} has {st.st_size} bytes, the kit wrote {rec['bytes']}"
    if rec.get("identity") == identity(st):
        return None
    try:
        if sha256_file(path) != rec["sha256"]:
            return f"{path} has another sha256 than the kit wrote"
    except OSError as exc:
        return f"{path} cannot be read ({exc.strerror})"
    return None


class Changed(KitError):
    """A result that is no longer what the kit wrote: printed as one `changed: ...` line, exit 1."""

    prefix = "changed"
    exit_code = 1


def check_result(path: Path, what: str) -> None:
    """Refuse to show a result (report, perf JSON, reproduce JSON) whose content is not what the kit wrote.

    Why: an edit whose mtime was put back leaves make nothing to redo, and the table would print it as
    measured. A result without a record (written before the kit kept one) cannot be checked and is shown."""
    root = root_of(path)
    if root is None:
        return
    try:
        rel = Path(os.path.realpath(path)).relative_to(root).as_posix()
    except ValueError:
        return
    rec = load(root).get(rel)
    why = mismatch(root, rec) if rec else None
    if why:
        raise Changed(f"{why}: the {what} is not shown; `make verify` marks it and `make all` (or `make perf`) with "
                      "the same variables redoes it")
