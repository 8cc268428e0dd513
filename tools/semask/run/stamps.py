"""Make-time stamps: files whose mtime moves only when an input that no file name carries changed.

Why: make compares mtimes, so an input it cannot see (which WEIGHTS file, what DATA_ROOT holds) or
an output edited behind its back must be turned into a file whose mtime moves exactly then. The
run's plan (semask.run.resolve) refreshes them once per make run, before make plans (standard
library only); under `make -n` / `-q` nothing is written.

- Identity stamps (WEIGHTS, DATA_ROOT) hold the resolved path and, for every file (symlinks
  followed), size, mtime, ctime and inode, and are rewritten only when that text changes. ctime and
  inode cannot be set back by `cp -p`, `rsync -a` or unzip, so replacing a file always shows.
- Check stamps guard a finished step's manifest (labels.json, bins manifest.json, the prediction
  summary): when the manifest does not parse, or a file it lists is missing, has the wrong size or
  is newer than the manifest (edited after the step), the stamp is touched and the step redone;
  the steps resume, so only the affected files are rewritten.
"""
from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from pathlib import Path
from typing import Iterable, Iterator

from semask.core.fsio import write_if_changed

DATA_SUBDIRS = ("leftImg8bit/val", "gtFine/val")


def file_identity(path: Path) -> str:
    """size, mtime, ctime and inode of `path` after following symlinks ('missing' when absent)."""
    try:
        st = os.stat(path)
    except OSError:
        return "missing"
    return f"{st.st_size} {st.st_mtime_ns} {st.st_ctime_ns} {st.st_ino}"


def _walk_files(root: Path) -> Iterator[Path]:
    """Every file under `root`, following symlinked folders (shared storage often links the cities)."""
    seen: set[tuple[int, int]] = set()
    for folder, dirs, files in os.walk(root, followlinks=True):
        st = os.stat(folder)
        if (st.st_dev, st.st_ino) in seen:  # a symlink loop
            dirs[:] = []
            continue
        seen.add((st.st_dev, st.st_ino))
        dirs.sort()
        for name in sorted(files):
            yield Path(folder) / name


def weights_stamp(weights: str, sha256: str = "") -> str:
    """The WEIGHTS file's identity (and its sha256 when known: the official download's, see official_sha256)."""
    if weights == "random":
        return "random\n"
    path = Path(weights)
    return f"{os.path.realpath(path)}\n{file_identity(path)}\n" + (f"sha256 {sha256}\n" if sha256 else "")


def official_sha256(stamp: Path, weights: str) -> str:
    """The downloaded WEIGHTS' sha256, from their stamp while the file is the one stamped (same path, size,
    mtime, ctime, inode), else hashed once here and recorded in the stamp.

    Why: the official file's name is fixed, so the plan cannot tell it by name; hashing it in every
    consumer (export, inference, report) read the whole checkpoint again and again. A stamp that only
    gains its sha256 line keeps its mtime: the identity did not change, so nothing is redone.
    """
    from semask.run.plan import sha256_of

    bare = weights_stamp(weights)
    try:
        old = stamp.read_text(encoding="utf-8")
    except OSError:
        old = None
    if old is not None and old.startswith(bare) and old[len(bare):].startswith("sha256 "):
        return old[len(bare) + len("sha256 "):].strip()
    text = weights_stamp(weights, sha256_of(Path(weights)))
    if old == bare:  # the same identity, the sha256 added: keep the stamp's time
        st = stamp.stat()
        write_if_changed(stamp, text)
        os.utime(stamp, ns=(st.st_atime_ns, st.st_mtime_ns))
    else:
        write_stamp(stamp, text)
    return text[len(bare) + len("sha256 "):].strip()


def data_root_stamp(data_root: str) -> str:
    """The resolved DATA_ROOT and a digest of the identity of every val file under it."""
    root = Path(data_root)
    digest = hashlib.sha256()
    for sub in DATA_SUBDIRS:
        for path in _walk_files(root / sub):
            digest.update(f"{path.relative_to(root).as_posix()} {file_identity(path)}\n".encode())
    return f"{os.path.realpath(root)}\nfiles:{digest.hexdigest()}\n"


def write_stamp(path: Path, text: str) -> None:
    """An identity stamp: created old (a first look redoes nothing), moved only when the identity changes."""
    if path.exists():
        write_if_changed(path, text)
        return
    write_if_changed(path, text)
    os.utime(path, ns=(0, 0))


# ---------------------------------------------------------------------------- check stamps
def _listed_files(kind: str, target: Path, data: dict) -> Iterable[tuple[Path, int | None]]:
    """(file, expected size or None) for every output the manifest `target` vouches for."""
    if kind == "labels":
        return [(target.parent / e["label"], None) for e in data["images"]]
    if kind == "bins":
        return [(target.parent / f["name"], int(f["bytes"])) for f in data["files"]]
    if kind == "preds":  # `<run>_summary.json` beside `<run>/`; read by base name, as scoring does
        folder = target.with_name(target.name[: -len("_summary.json")])
        return [(folder / p.replace("\\", "/").split("/")[-1], None)
                for entry in data["filesinfo"].values() for p in entry["outfiles"]]
    raise ValueError(f"unknown check kind {kind!r}")


def stale_reason(kind: str, target: Path) -> str | None:
    """Why the finished step behind `target` cannot be trusted, or None (target absent: make builds it)."""
    try:
        st = target.stat()
    except OSError:
        return None
    try:
        data = json.loads(target.read_text(encoding="utf-8"))
        listed = list(_listed_files(kind, target, data))
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return f"{target} is empty or unreadable"
    for path, size in listed:
        try:
            fst = path.stat()
        except OSError:
            return f"{path} is missing"
        if size is not None and fst.st_size != size:
            return f"{path} has {fst.st_size} bytes, expected {size}"
        if fst.st_mtime_ns > st.st_mtime_ns:
            return f"{path} changed after {target.name} was written"
    return None


def check(kind: str, target: Path, stamp: Path) -> str | None:
    """Touch `stamp` when `target` is stale (so make redoes its step); create it old when absent."""
    reason = stale_reason(kind, target)
    if reason is not None:
        stamp.parent.mkdir(parents=True, exist_ok=True)
        write_if_changed(stamp, f"{reason} ({time.time_ns()})\n")
        print(f"note: {reason}; redoing the {kind} step", file=sys.stderr)
    elif not stamp.exists():
        stamp.parent.mkdir(parents=True, exist_ok=True)
        write_if_changed(stamp, "ok\n")
        os.utime(stamp, ns=(0, 0))  # older than any output: creating it must not redo anything
    return reason
