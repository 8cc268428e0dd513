"""Resumable outputs: remember what was written (sha256) so a rerun rewrites nothing already verified.

Each finished file is appended to a journal (`<out>/.<name>.journal.jsonl`) as soon as it has been
renamed into place, so an interrupted run resumes where it stopped. The final manifest replaces the
journal and is only rewritten when its content changes (it is a Makefile target: its mtime must
only move when something really changed).
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

from semask.core.errors import KitError
from semask.core.ledger import WRITTEN_BY
from semask.core.fsio import atomic_write_text, read_json, sha256_file, write_if_changed
from semask.core.parallel import imap


def code_fingerprint(*module_files: str) -> str:
    """Short sha256 of the modules that compute a step's outputs: changed code must not trust old outputs."""
    digest = hashlib.sha256()
    for module_file in module_files:
        digest.update(sha256_file(Path(module_file)).encode())
    return digest.hexdigest()[:16]


class Journal:
    """Append-only record of finished work, one JSON line each under a header line naming the settings.

    The one journal of the kit (labels, bins and ONNX Runtime batches): a torn last line (killed
    run) is ignored on load, and a journal written with other settings is not trusted at all.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def load(self, header: dict) -> dict[Any, dict]:
        """Records by key, only if the journal was written with the same `header` (same settings)."""
        records: dict[Any, dict] = {}
        try:
            lines = self.path.read_text(encoding="utf-8").splitlines()
        except OSError:
            return records
        if not lines:
            return records
        try:
            first = json.loads(lines[0])
            if not isinstance(first, dict) or first.get("header") != header:
                return records
        except ValueError:
            return records
        for line in lines[1:]:
            try:
                rec = json.loads(line)
                records[rec["key"]] = rec
            except (ValueError, KeyError, TypeError):
                continue
        return records

    def start(self, header: dict, keep: Iterable[dict]) -> None:
        """Begin a journal for this run (atomically), carrying over records that are still valid."""
        lines = [json.dumps({"header": header, **WRITTEN_BY})] + [json.dumps(r) for r in keep]
        atomic_write_text(self.path, "\n".join(lines) + "\n")
        self._fh = open(self.path, "a", encoding="utf-8")

    def add(self, record: dict) -> None:
        """Append one record and fsync it: after a crash, a record on disk means its file was finished."""
        self._fh.write(json.dumps(record) + "\n")
        self._fh.flush()
        os.fsync(self._fh.fileno())

    def close(self) -> None:
        """Stop appending and keep the journal (a run whose journal is its only record of progress)."""
        self._fh.close()

    def finish(self) -> None:
        """Close and delete: the manifest now holds everything."""
        self.close()
        self.path.unlink(missing_ok=True)


def is_verified(path: Path, sha256: str | None, size: int | None = None) -> bool:
    """True when `path` exists with the expected size and sha256."""
    if not sha256:
        return False
    try:
        if size is not None and path.stat().st_size != size:
            return False
        return sha256_file(path) == sha256
    except OSError:
        return False


def journal_path(out: Path, manifest: str) -> Path:
    """Where a step writing `out/manifest` journals its finished files (hidden, next to the manifest)."""
    return Path(out) / f".{manifest}.journal.jsonl"


def previous_records(out: Path, manifest: str, header: dict, items: str, key: str) -> dict[str, dict]:
    """Records to trust on a rerun, by key: the last manifest's `items` (only if written with the same
    `header`), updated by the journal of an interrupted run with that header."""
    previous = read_json(Path(out) / manifest)
    prev: dict[str, dict] = {}
    if isinstance(previous, dict) and {k: previous.get(k) for k in header} == header:
        prev = {r[key]: {**r, "key": r[key]} for r in previous.get(items, []) if key in r}
    prev.update(Journal(journal_path(out, manifest)).load(header))
    return prev


@dataclass(frozen=True)
class JournaledManifest:
    """Where `run_journaled` writes: the manifest file `manifest` in `out`, `header` + count + `items` (one
    `entry(record)` each); `failure` is the error message, formatted with {n} and {errors}."""

    out: Path
    manifest: str
    header: dict
    items: str
    entry: Callable[[dict], dict]
    failure: str


def run_journaled(worker: Callable[[dict], dict], tasks: list[dict], jobs: int | None, desc: str,
                  target: JournaledManifest) -> dict:
    """Run `worker` over `tasks` in parallel, journaling each finished record, then write the manifest.

    Each task carries "key" and "prev" (its trusted record or None); the worker returns a record with
    "key" and "written", or {"key", "error"}. Any error raises one KitError, `target.failure` formatted with
    {n} (how many) and {errors} (the first 50, '; '-joined), and keeps the journal so a rerun resumes.
    Otherwise the manifest is `header` + count + `items` (one `entry(record)` each), rewritten only
    if its content changed, and the journal is removed. Returns manifest path, count, how many files
    were written and whether the manifest changed.
    """
    out, manifest, header, items, entry, failure = (target.out, target.manifest, target.header, target.items,
                                                    target.entry, target.failure)
    manifest_path = Path(out) / manifest
    journal = Journal(journal_path(out, manifest))
    journal.start(header, [t["prev"] for t in tasks if t["prev"]])
    records, errors, written = [], [], 0
    for rec in imap(worker, tasks, jobs, desc):
        if "error" in rec:
            errors.append(rec["error"])
            continue
        written += rec.pop("written")
        journal.add(rec)
        records.append(rec)
    if errors:
        raise KitError(failure.format(n=len(errors), errors="; ".join(errors[:50])))
    manifest_obj = {**header, "count": len(records), items: [entry(r) for r in records]}
    changed = write_if_changed(manifest_path, json.dumps(manifest_obj, indent=2) + "\n")
    journal.finish()
    return {"manifest": str(manifest_path), "count": len(records), "written": written, "manifest_changed": changed}
