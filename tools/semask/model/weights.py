"""Fetch steps: official SeMask weights (Google Drive, sha256-locked) and the pinned upstream clone.

Why: upstream publishes no checksums, so the first download is structurally validated against
the kit's model and its sha256 is locked; every later run must match the lock. The upstream
source is checked out at one pinned commit and stamped only after `git rev-parse HEAD` agrees.
"""
from __future__ import annotations

import datetime
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

from semask.core.errors import KitError, not_one_of
from semask.core.fsio import atomic_path, atomic_write_json, ensure_writable_dir, sha256_file
from semask.model.config import MODEL_ROWS
from semask.spec import OFFICIAL_MODELS



def drive_view_url(drive_id: str) -> str:
    return f"https://drive.google.com/file/d/{drive_id}/view"


def read_lock(lock: Path) -> dict[str, Any]:
    """The weights lock ({model: {file, sha256, drive_id}}), {} when absent."""
    if not lock.exists():
        return {}
    try:
        data = json.loads(lock.read_text())
    except json.JSONDecodeError as exc:
        raise KitError(f"weights lock {lock} is not valid JSON ({exc}); fix or delete it") from None
    if not isinstance(data, dict):
        raise KitError(f"weights lock {lock} must hold a JSON object; fix or delete it")
    return data


def validate_structure(model: str, path: Path) -> None:
    """Load `path` strictly into the kit's model; KitError on any key/shape mismatch."""
    from semask.model.checkpoint import load_weights
    from semask.model.network import build_model

    load_weights(build_model(model), path, quiet=True)


def _check_sha(path: Path, expected: str | None, lock: Path, shown_as: Path) -> str:
    actual = sha256_file(path)
    if expected and actual != expected:
        raise KitError(f"{shown_as} has sha256 {actual} but {lock} expects {expected}; delete the file and rerun "
                       "to download again, or fix the lock if the checkpoint was deliberately replaced")
    return actual


def _download(drive_id: str, tmp: Path, out: Path, lock: Path) -> None:
    import gdown

    manual = (f"Download it manually: open {drive_view_url(drive_id)} in a browser, save the file as {out}, "
              f"then rerun this step (it validates the file and records its sha256 in {lock})")
    try:
        result = gdown.download(id=drive_id, output=str(tmp), quiet=False)
    except Exception as exc:  # gdown raises FileURLRetrievalError, requests errors, ...
        first = (str(exc).strip().splitlines() or [exc.__class__.__name__])
        detail = " ".join(line.strip() for line in first[:3])
        raise KitError(f"Google Drive refused the download of {drive_id} ({detail}). Drive often blocks scripted "
                       f"downloads (quota exceeded / 'Cannot retrieve the public link'). {manual}") from None
    if result is None or not tmp.is_file() or tmp.stat().st_size == 0:
        raise KitError(f"gdown returned no file for {drive_id}. {manual}")


def fetch_weights(model: str, out: Path | str, lock: Path | str) -> dict[str, Any]:
    """Ensure `out` holds the official `model` checkpoint, validated and sha256-locked."""
    if model not in OFFICIAL_MODELS:
        raise KitError(not_one_of("MODEL", model, OFFICIAL_MODELS, "only these have an official checkpoint"))
    out, lock = Path(out), Path(lock)
    drive_id = MODEL_ROWS[model].download_id
    locked = read_lock(lock).get(model) or {}
    expected = locked.get("sha256")
    if out.is_file():
        sha = _check_sha(out, expected, lock, out)
        if not expected:  # first sight of this file: prove it fits the model before locking it
            validate_structure(model, out)
        source = "existing"
    else:
        ensure_writable_dir(out.parent, "weights folder")
        with atomic_path(out) as tmp:
            _download(drive_id, tmp, out, lock)
            sha = _check_sha(tmp, expected, lock, out)
            if not expected:
                validate_structure(model, tmp)
        source = "downloaded"
    entry = {"file": out.name, "sha256": sha, "drive_id": drive_id}
    if locked != entry:
        data = read_lock(lock)
        data[model] = entry
        atomic_write_json(lock, data)
    return {**entry, "path": str(out), "source": source}


# ---------------------------------------------------------------- upstream source

def _git(args: list[str], cwd: Path | None = None) -> str:
    try:
        proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True)
    except FileNotFoundError:
        raise KitError("git is not installed; install git (apt-get install git)") from None
    if proc.returncode != 0:
        raise KitError(f"`git {' '.join(args)}` failed{f' in {cwd}' if cwd else ''}: "
                       f"{(proc.stderr.strip() or proc.stdout.strip())[-800:]}")
    return proc.stdout.strip()


def _has_commit(repo: Path, commit: str) -> bool:
    return subprocess.run(["git", "cat-file", "-e", f"{commit}^{{commit}}"], cwd=repo, capture_output=True).returncode == 0


def _checkout(repo: Path, url: str, commit: str) -> None:
    if not _has_commit(repo, commit):
        try:
            _git(["fetch", "--quiet", "origin", commit], repo)
        except KitError:
            _git(["fetch", "--quiet", "origin"], repo)
    if not _has_commit(repo, commit):
        raise KitError(f"commit {commit} is not in {url}; check UPSTREAM_REPO / the pinned commit")
    _git(["-c", "advice.detachedHead=false", "checkout", "--quiet", "--detach", commit], repo)


def fetch_upstream(dest: Path | str, repo: str, commit: str) -> dict[str, Any]:
    """Clone (or reuse) `repo` at `dest`, check out `commit`, verify HEAD, then write `<dest>.stamp`."""
    if not re.fullmatch(r"[0-9a-f]{40}", commit):
        raise KitError(f"UPSTREAM_COMMIT={commit!r} must be a full 40-character commit hash")
    dest = Path(dest)
    stamp = dest.with_name(dest.name + ".stamp")
    if stamp.exists():
        stamp.unlink()
    if dest.exists() and not (dest / ".git").exists():
        if dest.is_dir() and not any(dest.iterdir()):
            dest.rmdir()
        else:
            raise KitError(f"{dest} exists but is not a git clone; move it away or set UPSTREAM_DIR elsewhere")
    if dest.exists():
        head = _git(["rev-parse", "HEAD"], dest)
        if head != commit:
            if _git(["status", "--porcelain", "--untracked-files=no"], dest):
                raise KitError(f"{dest} has local changes and is at {head[:12]}, not {commit[:12]}; "
                               f"commit/stash them or delete {dest} and rerun")
            _checkout(dest, repo, commit)
    else:
        ensure_writable_dir(dest.parent, "upstream folder")
        tmp = dest.with_name(f".{dest.name}.partial-{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        try:
            _git(["clone", "--quiet", "--no-checkout", repo, str(tmp)])
            _checkout(tmp, repo, commit)
            os.replace(tmp, dest)
        except KitError as exc:
            raise KitError(f"{exc}\n(cloning {repo}; without network set UPSTREAM_REPO to a local clone or mirror)") from None
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    head = _git(["rev-parse", "HEAD"], dest)
    if head != commit:
        raise KitError(f"{dest} is at {head} after checkout, expected {commit}; delete {dest} and rerun")
    info = {"repo": repo, "commit": commit, "head": head, "dest": str(dest),
            "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
    atomic_write_json(stamp, info)
    return info
