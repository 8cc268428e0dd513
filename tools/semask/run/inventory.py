"""Which paths under ARTIFACTS the kit made: what `make clean` may delete, and nothing else.

Why: a name or a JSON key is no proof: a user's `onnx/mynotes.json` can hold `{"kind": ...}`, a model-zoo
ONNX can sit beside a JSON of its sha256, `.draft.1.tmp.md` looks like a temp name. A file is the kit's
only when a record the kit wrote names it: the ledger (semask.core.ledger: path, size, sha256 of every
atomic write; the content must still match), a manifest or journal the ledger vouches for (bins, labels,
predictions, by name; an OM by its sidecar's sha256), or a temporary name whose check the kit can verify
(semask.core.tempname) inside a kit folder. A folder is the kit's when the kit creates it by that name or
it has a checked temp name. Anything else, anywhere below ARTIFACTS, is foreign: `make clean` then
refuses and deletes nothing. Symlinks are never followed. Standard library only.
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from semask.core import ledger
from semask.core.fsio import load_json
from semask.core.locks import LOCK, WRITERS
from semask.core.tempname import is_temp_name
from semask.run import plan

MARKER = ledger.MARKER
# files with no record of their own: the root's marker, locks and ledger (`.gitkeep`: older checkouts)
ROOT_FILES = frozenset({MARKER, LOCK, WRITERS, ledger.RECORDS, ".gitkeep"})
RUN = plan.RUN_PATTERN  # a run's name, as semask.run.plan builds it
BINS_DIR = re.compile(rf"^{plan.BINS_DIR_PATTERN}$")
LABELS_DIR = re.compile(rf"^{plan.LABELS_DIR_PATTERN}$")
PREDS_DIR = re.compile(rf"^{RUN}$")
PANELS_DIR = re.compile(rf"^{RUN}_panels$")
REPRO_DIR = re.compile(r"^reproduce_.+$")
FP16_DIR = re.compile(r"^fp16check_.+$")  # make fp16-check (semask.evaluate.fp16_check.write)
FP16_FILES = {"fp16_check.json", "fp16_check.md", "keep_dtype.cfg"}
BINS_MANIFEST, LABELS_MANIFEST = "manifest.json", "labels.json"


@dataclass
class Inventory:
    """Kit files and kit folders (absolute paths), and foreign paths (relative to ARTIFACTS)."""

    files: list[Path] = field(default_factory=list)
    dirs: list[Path] = field(default_factory=list)
    foreign: list[str] = field(default_factory=list)


def _journal_records(path: Path) -> list[dict] | None:
    """The records of a journal the kit wrote (its header carries the kit's field), torn lines ignored;
    None for any other file."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
        head = json.loads(lines[0]) if lines else None
    except (OSError, ValueError):
        return None
    if not ledger.is_kit_record(head):
        return None
    out = []
    for line in lines[1:]:
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        if isinstance(rec, dict):
            out.append(rec)
    return out


def _names(items: Iterable[Any], key: str) -> set[str]:
    return {str(i[key]) for i in items if isinstance(i, dict) and isinstance(i.get(key), str)}


class _Walk:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.inv = Inventory()
        self.records = ledger.load(root)

    def add_records(self, nested: Path) -> None:
        """A nested ARTIFACTS root's ledger (the demo's), its paths made relative to ours."""
        prefix = self.rel(nested)
        for rel, rec in ledger.load(nested).items():
            self.records[f"{prefix}/{rel}"] = {**rec, "path": f"{prefix}/{rel}"}

    def rel(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()

    def why_not(self, path: Path) -> str | None:
        """None when the ledger vouches for `path` as it is now, else why not."""
        rec = self.records.get(self.rel(path))
        if rec is None:
            return "no record"
        return None if ledger.mismatch(self.root, rec) is None else "changed since the kit wrote it"

    def vouched(self, path: Path) -> bool:
        return self.why_not(path) is None

    def entries(self, folder: Path) -> list[os.DirEntry]:
        try:
            with os.scandir(folder) as it:
                return sorted(it, key=lambda e: e.name)
        except OSError:
            self.inv.foreign.append(self.rel(folder) + " (unreadable)")
            return []

    def foreign(self, entry: os.DirEntry, why: str | None = None) -> None:
        note = f" ({why})" if why and why != "no record" else ""
        self.inv.foreign.append(self.rel(Path(entry.path)) + ("/" if _is_dir(entry) else "") + note)

    def whole(self, folder: Path) -> None:
        """A kit temp folder: everything inside is the kit's (symlinks are unlinked, never followed)."""
        self.inv.dirs.append(folder)
        for e in self.entries(folder):
            if _is_dir(e):
                self.whole(Path(e.path))
            else:
                self.inv.files.append(Path(e.path))

    def folder(self, folder: Path, listed=None, is_dir=None) -> None:
        """A kit folder: a file is the kit's when the ledger vouches for it, `listed(name)` holds (a vouched
        manifest names it) or it has a checked temp name; a subfolder when it has a checked temp name or
        `is_dir(name, path)` handles it (returning False when it is not the kit's)."""
        self.inv.dirs.append(folder)
        for e in self.entries(folder):
            p = Path(e.path)
            if _is_dir(e):
                if is_temp_name(e.name):
                    self.whole(p)
                elif not (is_dir and is_dir(e.name, p)):
                    self.foreign(e)
                continue
            why = None if (listed and listed(e.name)) or is_temp_name(e.name) else self.why_not(p)
            if why is None and not e.is_symlink():
                self.inv.files.append(p)
            else:
                self.foreign(e, why)

    def manifest(self, path: Path) -> Any:
        """The JSON of a manifest the ledger vouches for, else None."""
        return load_json(path) if self.vouched(path) else None


def _is_dir(entry: os.DirEntry) -> bool:
    return entry.is_dir(follow_symlinks=False)


def _om_folder(w: _Walk, folder: Path) -> None:
    """om/: an .om is published by rename after its sidecar, which records its sha256."""
    def listed(name: str) -> bool:
        if not name.endswith(".om"):
            return False
        side = w.manifest(folder / (name[:-3] + ".json"))
        try:
            return isinstance(side, dict) and side.get("om_sha256") == ledger.sha256_file(folder / name)
        except OSError:
            return False

    w.folder(folder, listed)


def _bins(w: _Walk, folder: Path) -> None:
    def is_dir(name: str, path: Path) -> bool:
        manifest = w.manifest(path / BINS_MANIFEST)
        journal = path / f".{BINS_MANIFEST}.journal.jsonl"
        records = _journal_records(journal)
        listed = _names(manifest.get("files", []) if isinstance(manifest, dict) else [], "name")
        listed |= _names(records or [], "key")
        if not listed and records is None and not BINS_DIR.match(name):
            return False
        keep = listed | ({journal.name} if records is not None else set())
        w.folder(path, lambda n: n in keep)
        return True

    w.folder(folder, None, is_dir)


def _labels(w: _Walk, folder: Path) -> None:
    def is_dir(name: str, path: Path) -> bool:
        manifest = w.manifest(path / LABELS_MANIFEST)
        journal = path / f".{LABELS_MANIFEST}.journal.jsonl"
        records = _journal_records(journal)
        listed = _names(manifest.get("images", []) if isinstance(manifest, dict) else [], "label")
        listed |= _names(records or [], "label")
        if not listed and records is None and not LABELS_DIR.match(name):
            return False
        cities: dict[str, set[str]] = {}
        for rel in listed:
            parts = rel.split("/")
            if len(parts) == 2:
                cities.setdefault(parts[0], set()).add(parts[1])

        def city(cname: str, cpath: Path) -> bool:
            if cname not in cities:
                return False
            w.folder(cpath, lambda n: n in cities[cname])
            return True

        w.folder(path, lambda n: n == journal.name and records is not None, city)
        return True

    w.folder(folder, None, is_dir)


def _pred_names(w: _Walk, preds: Path, run: str) -> set[str]:
    """Prediction file names the run's vouched manifest and summary, and its journal, name."""
    names = set()
    manifest = w.manifest(preds / f"{run}_manifest.json")
    if isinstance(manifest, dict):
        names |= _names(manifest.get("files", []), "name")
    summary = w.manifest(preds / f"{run}_summary.json")
    if isinstance(summary, dict) and isinstance(summary.get("filesinfo"), dict):
        for entry in summary["filesinfo"].values():
            for p in (entry.get("outfiles", []) if isinstance(entry, dict) else []):
                if isinstance(p, str):
                    names.add(p.replace("\\", "/").split("/")[-1])
    for rec in _journal_records(preds / f".{run}.journal.jsonl") or []:
        for out in rec.get("outfiles", []):
            if isinstance(out, list) and out and isinstance(out[0], str):
                names.add(out[0])
    return names


def _preds(w: _Walk, folder: Path) -> None:
    def listed(name: str) -> bool:  # a run's journal
        m = re.match(rf"^\.({RUN})\.journal\.jsonl$", name)
        return bool(m) and _journal_records(folder / name) is not None

    def is_dir(name: str, path: Path) -> bool:
        if not PREDS_DIR.match(name):
            return False
        names = _pred_names(w, folder, name)
        w.folder(path, lambda n: n in names)
        return True

    w.folder(folder, listed, is_dir)


def _reports(w: _Walk, folder: Path) -> None:
    def is_dir(name: str, path: Path) -> bool:
        if PANELS_DIR.match(name) or REPRO_DIR.match(name):
            w.folder(path)
            return True
        if FP16_DIR.match(name):
            w.folder(path, lambda n: n in FP16_FILES)
            return True
        return False

    w.folder(folder, None, is_dir)


def _tree(w: _Walk, root: Path, nested: bool) -> None:
    """One ARTIFACTS root (the demo's nested one too)."""
    handlers = {
        ".state": w.folder, "onnx": w.folder, "perf": w.folder, "env": w.folder, "crosscheck": w.folder,
        "om": lambda p: _om_folder(w, p),
        "bins": lambda p: _bins(w, p),
        "labels": lambda p: _labels(w, p),
        "preds": lambda p: _preds(w, p),
        "reports": lambda p: _reports(w, p),
    }

    def is_dir(name: str, path: Path) -> bool:
        if name in handlers:
            handlers[name](path)
            return True
        if name == "demo" and not nested and (path / MARKER).is_file():
            w.add_records(path)
            _tree(w, path, nested=True)
            return True
        if name == "demo-data" and not nested and (any((path / "cityscapes").glob(".complete*"))
                                                   or (path / "cityscapes.partial").is_dir()):
            w.whole(path)  # where an older `make demo` wrote its synthetic set before it moved to data/demo
            return True
        return False

    w.folder(root, lambda n: n in ROOT_FILES, is_dir)


def inventory(root: Path) -> Inventory:
    """Classify everything below the (resolved, real) folder `root`; kit folders come parents first."""
    w = _Walk(Path(root))
    _tree(w, w.root, nested=False)
    return w.inv
