"""What a consumer checks before it trusts a file another step wrote: size and sha256 from a manifest.

Why: make only sees mtimes, and a file edited, truncated or copied over after its step (`cp -p`
keeps an old mtime) would otherwise be read as it is: inference would feed a changed input bin,
scoring would score an edited prediction. The bins manifest (written by preprocess) and the
predictions manifest (written here by inference, beside the `<run>_summary.json`) record size and
sha256 per file; inference and scoring verify against them and refuse a mismatch, naming the file
and the fix.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Iterable, Mapping, Sequence

from semask.core.errors import KitError
from semask.core.fsio import atomic_write_json, sha256_file

BINS_MANIFEST = "manifest.json"
PREDS_MANIFEST_SUFFIX = "_manifest.json"


def _listing(items: Sequence[str], cap: int = 10) -> str:
    return "; ".join(items[:cap]) + (f"; ... (+{len(items) - cap} more)" if len(items) > cap else "")


def identity(st: os.stat_result) -> str:
    """mtime, ctime and inode: any write or replacement changes one of them (ctime cannot be set back)."""
    return f"{st.st_mtime_ns} {st.st_ctime_ns} {st.st_ino}"


def mismatch(path: Path, size: int | None, sha256: str, known: str | None = None) -> str | None:
    """Why `path` is not the recorded file (missing, size, content), or None when it is. `known`: the
    identity the file had when its sha256 was computed; unchanged, the content is too (no rehash)."""
    try:
        st = path.stat()
    except OSError:
        return f"{path} is missing"
    actual = st.st_size
    if size is not None and actual != size:
        return f"{path} has {actual} bytes, the manifest says {size}"
    if known is not None and identity(st) == known:
        return None
    if sha256_file(path) != sha256:
        return f"{path} has another sha256 than the manifest records"
    return None


def _check(task: tuple[str, int | None, str, str | None]) -> str | None:
    path, size, sha, known = task
    try:
        return mismatch(Path(path), size, sha, known)
    except OSError as exc:
        return f"{path} cannot be read ({exc.strerror})"


def _unchanged(task: tuple[str, int | None, str, str | None]) -> bool:
    path, size, _, known = task
    try:
        st = os.stat(path)
    except OSError:
        return False
    return known is not None and identity(st) == known and (size is None or st.st_size == size)


def verify(records: Iterable[tuple], jobs: int | None, desc: str) -> list[str]:
    """Mismatch messages of (path, size or None, sha256[, identity]) records, checked in parallel."""
    from semask.core.parallel import imap  # tqdm: only where files are checked

    tasks = [(str(r[0]), r[1], r[2], r[3] if len(r) > 3 else None) for r in records]
    tasks = [t for t in tasks if not _unchanged(t)]  # stat only, in this process: no pool when nothing changed
    if not tasks:
        return []
    return [m for m in imap(_check, tasks, jobs, desc) if m]


# ---------------------------------------------------------------------------- input bins
def input_records(input_dir: Path) -> dict[str, dict] | None:
    """name -> {sha256, bytes} from the bins manifest of `input_dir`, or None when it has none."""
    path = Path(input_dir) / BINS_MANIFEST
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return {f["name"]: {"sha256": f["sha256"], "bytes": int(f["bytes"])} for f in data["files"]}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise KitError(f"{path} is unreadable ({type(exc).__name__}); delete it and rerun the preprocess step "
                       "(`make bins`)") from None


def verify_inputs(input_dir: Path, files: Sequence[Path], jobs: int | None = None) -> dict[str, str] | None:
    """Check every input file against the bins manifest; return name -> sha256 (None: no manifest)."""
    records = input_records(input_dir)
    if records is None:
        return None
    unknown = [str(f) for f in files if f.name not in records]
    if unknown:
        raise KitError(f"{len(unknown)} input file(s) are not in {Path(input_dir) / BINS_MANIFEST}: {_listing(unknown)}; "
                       "remove them (they are not from this preprocess run) or rerun the preprocess step")
    bad = verify(((f, records[f.name]["bytes"], records[f.name]["sha256"]) for f in files), jobs, "verify inputs")
    if bad:
        raise KitError(f"{len(bad)} input bin(s) changed after preprocessing: {_listing(bad)}; delete them "
                       "(rm <file>) and run `make bins` or `make all` again, which rewrites exactly those")
    return {f.name: records[f.name]["sha256"] for f in files}


# ---------------------------------------------------------------------------- predictions
def preds_manifest_path(folder: Path) -> Path:
    """`<out>/<run>_manifest.json` beside `<out>/<run>/` and `<out>/<run>_summary.json`."""
    folder = Path(folder)
    return folder.parent / f"{folder.name}{PREDS_MANIFEST_SUFFIX}"


def write_preds_manifest(folder: Path, files: Mapping[str, tuple[int, str]]) -> Path:
    """Record size and sha256 of every prediction file (name -> (bytes, sha256)); written before the summary.

    Each entry also keeps the file's identity now (`identity`): scoring rehashes only files whose
    identity changed since, which keeps verification cheap and still catches every write.
    """
    path = preds_manifest_path(folder)
    entries = []
    for name, (size, sha) in sorted(files.items()):
        st = (Path(folder) / name).stat()
        if st.st_size != size:
            raise KitError(f"{Path(folder) / name} changed while inference was writing it; rerun inference")
        entries.append({"name": name, "bytes": size, "sha256": sha, "identity": identity(st)})
    atomic_write_json(path, {"folder": Path(folder).name, "count": len(entries), "files": entries})
    return path


def hash_outputs(folder: Path, names: Iterable[str]) -> dict[str, tuple[int, str]]:
    """name -> (bytes, sha256) of files another tool wrote into `folder` (ais_bench)."""
    out = {}
    for name in names:
        path = Path(folder) / name
        out[name] = (path.stat().st_size, sha256_file(path))
    return out


def verify_predictions(folder: Path, files: Sequence[Path], jobs: int | None = None) -> bool:
    """Check the prediction files to be scored against the predictions manifest; False when there is none
    (a folder the kit did not write). KitError naming every changed file and the fix."""
    path = preds_manifest_path(folder)
    if not path.is_file():
        return False
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        records = {f["name"]: (int(f["bytes"]), f["sha256"], f.get("identity")) for f in data["files"]}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise KitError(f"predictions manifest {path} is unreadable ({type(exc).__name__}); rerun inference") from None
    unknown = [str(f) for f in files if f.name not in records]
    bad = verify(((f, *records[f.name]) for f in files if f.name in records), jobs, "verify predictions")
    problems = [f"{u} is not in {path.name}" for u in unknown] + bad
    if problems:
        raise KitError(f"{len(problems)} prediction file(s) do not match {path}: {_listing(problems)}; they changed "
                       "after inference: delete them (rm <file>) and run `make all` again, which redoes exactly those")
    return True


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
