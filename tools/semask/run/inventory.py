"""Which paths under ARTIFACTS the kit made: what `make clean` may delete, and nothing else.

Why: a top-level name check let `make clean` delete a user's `reports/mine/keep.txt`. Here every
file must be vouched for by a record the kit wrote (a manifest, a journal, a sidecar), or be one of
the few files that carry no record but have a fixed kit name (stamps, provenance, reports, perf and
env records, the lock and the marker); a folder is the kit's when the kit creates it by that name.
Anything else, anywhere below ARTIFACTS, is foreign: `make clean` then refuses and deletes nothing.
Symlinks are never followed (the kit makes none; one is foreign, so its target is never reached).
Standard library only: `make clean` runs before `.venv` exists.
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from semask.core.fsio import load_json
from semask.core.locks import LOCK, WRITERS
from semask.run import plan

MARKER = ".semask-artifacts"
ROOT_FILES = frozenset({MARKER, LOCK, WRITERS, ".gitkeep"})
RUN = plan.RUN_PATTERN  # a run's name, as semask.run.plan builds it
# a temp name of a killed write: fsio.atomic_path (.<final>.<pid>-<random>.tmp<ext>), stamps (.<final>.<pid>.tmp)
TEMP = re.compile(r"^\..+\.\d+(?:-[A-Za-z0-9_]+)?\.tmp(?:\.[A-Za-z0-9]+)?$")
STATE_FILE = re.compile(rf"^(?:{plan.STATE_FILE_PATTERN})$")
REPORT_FILE = re.compile(rf"^{RUN}\.(?:json|md|provenance\.json|table\.md)$|^latest(?:\.tmp)?$|^crosscheck_.+\.json$")
PERF_FILE = re.compile(rf"^{RUN}{plan.PERF_SUFFIX_PATTERN}(?:\.provenance)?\.json$")
ENV_FILE = re.compile(r"^env_[a-z]+\.json$|^env_check\.json$")
CROSSCHECK_FILE = re.compile(r"^crosscheck_.+\.json$")
OM_FILE = re.compile(r"^.+\.(?:atc\.log|atc_check\.json)$")
OM_TEMP_DIR = re.compile(r"^\..+\.atc-.+$|^\.atc-check-.+$")  # atc's work folders of a killed compile/check
ONNX_TEMP_DIR = re.compile(r"^\..+\.onnx\.[A-Za-z0-9_]+$")  # model.ort_graph's scratch folder
# PRECISION=int8's OpenVINO IR (semask.backends.openvino.quantize.ir_names) and its temp names
INT8_IR_FILE = re.compile(r"^\.?semask_.+_int8_c\d+_m[0-9a-f]{8}(\.\d+\.tmp)?\.(xml|bin)$")
PERF_TEMP_DIR = re.compile(r"^\.perf-e2e-[A-Za-z0-9_]+$")  # semask.backends.folder_run.run_perf's scratch folder
BINS_DIR = re.compile(rf"^{plan.BINS_DIR_PATTERN}$")
LABELS_DIR = re.compile(rf"^{plan.LABELS_DIR_PATTERN}$")
PREDS_DIR = re.compile(rf"^{RUN}$")
PREDS_PARTIAL = re.compile(rf"^{RUN}\.partial-.+$")  # ais_bench's folder while it writes (runtime.ascend)
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


def _journal_records(path: Path) -> list[dict]:
    """The records of a journal (header skipped, torn lines ignored)."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()[1:]
    except OSError:
        return []
    out = []
    for line in lines:
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

    def rel(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()

    def entries(self, folder: Path) -> list[os.DirEntry]:
        try:
            with os.scandir(folder) as it:
                return sorted(it, key=lambda e: e.name)
        except OSError:
            self.inv.foreign.append(self.rel(folder) + " (unreadable)")
            return []

    def foreign(self, entry: os.DirEntry) -> None:
        self.inv.foreign.append(self.rel(Path(entry.path)) + ("/" if _is_dir(entry) else ""))

    def whole(self, folder: Path) -> None:
        """A kit temp folder: everything inside is the kit's (symlinks are unlinked, never followed)."""
        self.inv.dirs.append(folder)
        for e in self.entries(folder):
            if _is_dir(e):
                self.whole(Path(e.path))
            else:
                self.inv.files.append(Path(e.path))

    def folder(self, folder: Path, is_file, is_dir=None) -> None:
        """A kit folder whose files pass `is_file(name)` and whose subfolders `is_dir(name, path)` handles
        (returning False when the subfolder is not the kit's)."""
        self.inv.dirs.append(folder)
        for e in self.entries(folder):
            p = Path(e.path)
            if _is_dir(e):
                if not (is_dir and is_dir(e.name, p)):
                    self.foreign(e)
            elif not e.is_symlink() and (is_file(e.name) or TEMP.match(e.name)):
                self.inv.files.append(p)
            else:
                self.foreign(e)


def _is_dir(entry: os.DirEntry) -> bool:
    return entry.is_dir(follow_symlinks=False)


def _sidecar_ok(path: Path, keys: tuple[str, ...]) -> bool:
    data = load_json(path)
    return isinstance(data, dict) and any(k in data for k in keys)


def _model_folder(w: _Walk, folder: Path, ext: str, keys: tuple[str, ...], extra=None, temp_dir=None) -> None:
    """onnx/ or om/: a model file whose sidecar exists, and sidecars (a sidecar is written first)."""
    def is_file(name: str) -> bool:
        if name.endswith(ext):
            return _sidecar_ok(folder / (name[: -len(ext)] + ".json"), keys)
        if name.endswith(".json") and _sidecar_ok(folder / name, keys):
            return True
        return bool(extra and extra.match(name))

    def is_dir(name: str, path: Path) -> bool:
        if temp_dir and temp_dir.match(name):
            w.whole(path)
            return True
        return False

    w.folder(folder, is_file, is_dir)


def _bins(w: _Walk, folder: Path) -> None:
    def is_dir(name: str, path: Path) -> bool:
        manifest = load_json(path / BINS_MANIFEST)
        journal = path / f".{BINS_MANIFEST}.journal.jsonl"
        listed = _names(manifest.get("files", []) if isinstance(manifest, dict) else [], "name")
        listed |= _names(_journal_records(journal), "key")
        if not listed and not BINS_DIR.match(name):
            return False
        keep = listed | {BINS_MANIFEST, journal.name}
        w.folder(path, lambda n: n in keep)
        return True

    w.folder(folder, lambda n: False, is_dir)


def _labels(w: _Walk, folder: Path) -> None:
    def is_dir(name: str, path: Path) -> bool:
        manifest = load_json(path / LABELS_MANIFEST)
        journal = path / f".{LABELS_MANIFEST}.journal.jsonl"
        listed = _names(manifest.get("images", []) if isinstance(manifest, dict) else [], "label")
        listed |= _names(_journal_records(journal), "label")
        if not listed and not LABELS_DIR.match(name):
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

        w.folder(path, lambda n: n in {LABELS_MANIFEST, journal.name}, city)
        return True

    w.folder(folder, lambda n: False, is_dir)


def _pred_names(preds: Path, run: str) -> set[str]:
    """Prediction file names the run's manifest, summary and journal vouch for."""
    names = set()
    manifest = load_json(preds / f"{run}_manifest.json")
    if isinstance(manifest, dict):
        names |= _names(manifest.get("files", []), "name")
    summary = load_json(preds / f"{run}_summary.json")
    if isinstance(summary, dict) and isinstance(summary.get("filesinfo"), dict):
        for entry in summary["filesinfo"].values():
            for p in (entry.get("outfiles", []) if isinstance(entry, dict) else []):
                if isinstance(p, str):
                    names.add(p.replace("\\", "/").split("/")[-1])
    for rec in _journal_records(preds / f".{run}.journal.jsonl"):
        for out in rec.get("outfiles", []):
            if isinstance(out, list) and out and isinstance(out[0], str):
                names.add(out[0])
    return names


def _preds(w: _Walk, folder: Path) -> None:
    def is_file(name: str) -> bool:
        return bool(re.match(rf"^{RUN}_(?:summary|manifest)\.json$|^\.{RUN}\.journal\.jsonl$", name))

    def is_dir(name: str, path: Path) -> bool:
        if PREDS_PARTIAL.match(name):
            w.whole(path)
            return True
        if not PREDS_DIR.match(name):
            return False
        names = _pred_names(folder, name)
        w.folder(path, lambda n: n in names)
        return True

    w.folder(folder, is_file, is_dir)


def _reports(w: _Walk, folder: Path) -> None:
    def is_dir(name: str, path: Path) -> bool:
        if PANELS_DIR.match(name):
            w.folder(path, lambda n: n.endswith("_panel.png"))
            return True
        if REPRO_DIR.match(name):
            w.folder(path, lambda n: n in {"reproduce.json", "reproduce.md"})
            return True
        if FP16_DIR.match(name):
            w.folder(path, lambda n: n in FP16_FILES)
            return True
        return False

    w.folder(folder, lambda n: bool(REPORT_FILE.match(n)), is_dir)


def _temp(w: _Walk, pattern: re.Pattern):
    """A subfolder handler accepting only the kit's temp folders named by `pattern`."""
    def is_dir(name: str, path: Path) -> bool:
        if pattern.match(name):
            w.whole(path)
            return True
        return False
    return is_dir


def _tree(w: _Walk, root: Path, nested: bool) -> None:
    """One ARTIFACTS root (the demo's nested one too)."""
    handlers = {
        ".state": lambda p: w.folder(p, lambda n: bool(STATE_FILE.match(n))),
        "onnx": lambda p: _model_folder(w, p, ".onnx", ("sha256", "kind"), INT8_IR_FILE, temp_dir=ONNX_TEMP_DIR),
        "om": lambda p: _model_folder(w, p, ".om", ("om_sha256",), OM_FILE, OM_TEMP_DIR),
        "bins": lambda p: _bins(w, p),
        "labels": lambda p: _labels(w, p),
        "preds": lambda p: _preds(w, p),
        "reports": lambda p: _reports(w, p),
        "perf": lambda p: w.folder(p, lambda n: bool(PERF_FILE.match(n)), _temp(w, PERF_TEMP_DIR)),
        "env": lambda p: w.folder(p, lambda n: bool(ENV_FILE.match(n))),
        "crosscheck": lambda p: w.folder(p, lambda n: bool(CROSSCHECK_FILE.match(n))),
    }

    def is_dir(name: str, path: Path) -> bool:
        if name in handlers:
            handlers[name](path)
            return True
        if name == "demo" and not nested and (path / MARKER).is_file():
            _tree(w, path, nested=True)
            return True
        if name == "demo-data" and not nested and (any((path / "cityscapes").glob(".complete*"))
                                                   or (path / "cityscapes.partial").is_dir()):
            w.whole(path)  # where `make demo` wrote its synthetic set before it moved to data/demo
            return True
        return False

    w.folder(root, lambda n: n in ROOT_FILES, is_dir)


def inventory(root: Path) -> Inventory:
    """Classify everything below the (resolved, real) folder `root`; kit folders come parents first."""
    w = _Walk(Path(root))
    _tree(w, w.root, nested=False)
    return w.inv
