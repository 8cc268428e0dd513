"""`make verify`: re-hash every artifact under ARTIFACTS against the record the kit wrote for it.

Why: make sees mtimes only, and the steps' own checks trust a file whose identity is unchanged, so an
edit whose mtime was put back (`touch -r`) leaves "Nothing to be done" and a stale report standing.
This rehashes every file a record vouches for (the bins and predictions manifests, labels.json, the
.onnx and .om sidecars, and the kit's ledger of every other file it wrote: reports, tables, perf and
reproduce JSONs, provenance, stamps; semask.core.ledger), prints one line per changed file and marks
the step that made it out of date: the step's make target (the manifest, the prediction summary, the model file) gets the epoch
as its mtime, so make sees it older than its inputs and redoes that step; the steps resume and
verify their outputs by sha256, so exactly the changed files are rewritten, and everything that
depends on them after.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from semask.core import ledger
from semask.core.errors import KitError
from semask.core.fsio import load_json
from semask.core.manifest import mismatch
from semask.core.parallel import imap
from semask.core.locks import LOCK, try_lock
from semask.run.inventory import MARKER
from semask.model.onnx_io import sidecar_path
from semask.run.plan import REPORTS_DIR

SHOWN = 20  # changed files named one per line; the rest are counted


@dataclass(frozen=True)
class Record:
    """A file, what its record says (bytes or None, sha256), the record, and the make target that redoes it."""

    path: Path
    size: int | None
    sha256: str
    target: Path
    source: Path
    known: str | None = None  # the file's identity when its sha256 was recorded (unchanged: no rehash)


def _entries(data: Any, key: str) -> list[dict]:
    items = data.get(key) if isinstance(data, dict) else None
    return [i for i in items if isinstance(i, dict)] if isinstance(items, list) else []


def records(artifacts: Path) -> Iterator[Record]:
    """Every (file, record, target) under ARTIFACTS and its nested demo ARTIFACTS."""
    roots = [artifacts] + ([artifacts / "demo"] if (artifacts / "demo" / MARKER).is_file() else [])
    for root in roots:
        for manifest in sorted(root.glob("bins/*/manifest.json")):
            for f in _entries(load_json(manifest), "files"):
                if isinstance(f.get("name"), str) and isinstance(f.get("sha256"), str):
                    yield Record(manifest.parent / f["name"], int(f.get("bytes", -1)), f["sha256"], manifest, manifest)
        for labels in sorted(root.glob("labels/*/labels.json")):
            for image in _entries(load_json(labels), "images"):
                if isinstance(image.get("label"), str) and isinstance(image.get("sha256"), str):
                    yield Record(labels.parent / image["label"], None, image["sha256"], labels, labels)
        for manifest in sorted(root.glob("preds/*_manifest.json")):
            run = manifest.name[: -len("_manifest.json")]
            for f in _entries(load_json(manifest), "files"):
                if isinstance(f.get("name"), str) and isinstance(f.get("sha256"), str):
                    yield Record(manifest.parent / run / f["name"], int(f.get("bytes", -1)), f["sha256"],
                                 manifest.parent / f"{run}_summary.json", manifest)
        for folder, ext, key in (("onnx", ".onnx", "sha256"), ("om", ".om", "om_sha256")):
            for model in sorted((root / folder).glob(f"*{ext}")):
                side = load_json(sidecar_path(model))
                if isinstance(side, dict) and isinstance(side.get(key), str):
                    yield Record(model, None, side[key], model, sidecar_path(model))
        for side_path in sorted((root / "onnx").glob("*_int8_c*.json")):  # PRECISION=int8's IR: its sidecar is the target
            side = load_json(side_path)
            for name, key in (("xml", "xml_sha256"), ("bin", "bin_sha256")):
                if isinstance(side, dict) and isinstance(side.get(name), str) and isinstance(side.get(key), str):
                    yield Record(side_path.parent / side[name], None, side[key], side_path, side_path)


def ledger_records(artifacts: Path, covered: set[Path]) -> Iterator[Record]:
    """The ledger's files that still exist and no manifest or sidecar above covers (journals grow by design).
    A report's companions (its .md, table, provenance, panels) mark the report itself out of date."""
    roots = [artifacts] + ([artifacts / "demo"] if (artifacts / "demo" / MARKER).is_file() else [])
    for root in roots:
        real = Path(os.path.realpath(root))
        for rel, rec in sorted(ledger.load(real).items()):
            path = root / rel
            if path in covered or rel.endswith(".journal.jsonl") or not path.is_file():
                continue
            yield Record(path, rec.get("bytes"), rec["sha256"], _target(path), real / ledger.RECORDS,
                         rec.get("identity"))


def _target(path: Path) -> Path:
    """The make target whose step wrote `path`: a score report's companions belong to the report JSON."""
    if path.parent.name == REPORTS_DIR:
        for suffix in (".provenance.json", ".table.md", ".md"):
            if path.name.endswith(suffix):
                return path.with_name(path.name[: -len(suffix)] + ".json")
    if path.parent.parent.name == REPORTS_DIR and path.parent.name.endswith("_panels"):
        return path.parent.with_name(path.parent.name[: -len("_panels")] + ".json")
    return path


def _check(rec: Record) -> str | None:
    try:
        why = mismatch(rec.path, rec.size if rec.size is None or rec.size >= 0 else None, rec.sha256, rec.known)
        return why and why.replace("the manifest", "the kit's ledger" if rec.source.name == ledger.RECORDS
                                   else rec.source.name)
    except OSError as exc:
        return f"{rec.path} cannot be read ({exc.strerror})"


def mark_stale(target: Path) -> bool:
    """Give a step's make target the epoch as mtime (make then redoes the step); False when it is absent."""
    try:
        os.utime(target, ns=(0, 0))
        return True
    except FileNotFoundError:
        return False


def verify(artifacts: Path, jobs: int | None = None, shown: int = SHOWN) -> int:
    """Print what changed (one line per file, up to `shown`, then a count) and mark it; 1 if anything did."""
    artifacts = Path(artifacts)
    if not (artifacts / MARKER).is_file():
        what = "does not exist" if not artifacts.exists() else f"has no {MARKER} marker (the kit did not make it)"
        raise KitError(f"ARTIFACTS={artifacts} {what}; nothing to verify: give the ARTIFACTS of a run")
    fd = os.open(artifacts / LOCK, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        if not try_lock(fd):
            raise KitError(f"a make is running on ARTIFACTS={artifacts}; wait for it to finish, then verify")
        found = list(records(artifacts))
        found += ledger_records(artifacts, {rec.path for rec in found})
        problems = [(rec, why) for rec, why in zip(found, imap(_check, found, jobs, "verify")) if why]
        for rec, why in problems[:shown]:
            print(f"changed: {why}")
        if len(problems) > shown:
            print(f"changed: ... and {len(problems) - shown} more")
        if not problems:
            print(f"verify: all {len(found)} recorded files under ARTIFACTS={artifacts} match their manifests, sidecars "
                  "and the kit's ledger")
            return 0
        marked = sorted({str(rec.target) for rec, _ in problems if mark_stale(rec.target)})
        print(f"verify: {len(problems)} of {len(found)} recorded files under ARTIFACTS={artifacts} changed after their "
              f"step; marked out of date: {', '.join(marked) or 'nothing (their steps left no target)'}; the next "
              "`make all` with the same variables redoes exactly those")
        return 1
    finally:
        os.close(fd)
