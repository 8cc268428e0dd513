"""Score prediction bins against prepared labelTrainIds: pairing, checks, parallel streaming
confusion matrix, JSON + Markdown reports and optional panels.

Every check that can fail does so before any pixel is read (coverage, file sizes, writable
outputs), so a wrong run stops in seconds with one message naming all culprits.
"""
from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np

from semask.evaluate import metrics
from semask.evaluate import predictions
from semask.data.cityscapes import CLASSES, frame_id_from_stem, image_stem
from semask.core.manifest import verify_predictions
from semask.core.errors import KitError, not_one_of
from semask.core.fsio import atomic_write_json, atomic_write_text, ensure_writable_dir, natural_key, read_json, sha256_file
from semask.data.labels import read_manifest
from semask.evaluate.describe import dataset_facts, model_label, weights_label
from semask.evaluate.panels import frame_miou, write_panel
from semask.core.parallel import imap
from semask.spec import DEFAULT_LABEL_DTYPE, LABEL_DTYPES


def _listing(items: Sequence[str], cap: int = 30) -> str:
    return ", ".join(items[:cap]) + (f", ... (+{len(items) - cap} more)" if len(items) > cap else "")


def read_label(path: Path, size: tuple[int, int]) -> np.ndarray:
    """A labelTrainIds PNG as uint8 (H, W); ValueError when unreadable or not the expected size."""
    gt = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if gt is None or gt.ndim != 2 or gt.dtype != np.uint8:
        raise ValueError(f"{path}: not an 8-bit single-channel PNG; rerun tools/prepare_cityscapes.py")
    if gt.shape != tuple(size):
        raise ValueError(f"{path}: label is {gt.shape[0]}x{gt.shape[1]} but predictions are read as {size[0]}x{size[1]}")
    return gt


def read_prediction(path: Path, dtype: str, size: tuple[int, int]) -> np.ndarray:
    return np.fromfile(str(path), np.dtype(dtype)).reshape(size)


def _score_one(task: tuple[str, str, str, tuple[int, int]]) -> tuple[np.ndarray | None, str | None]:
    """Worker: the 19x20 confusion counts of one image (only that image is in memory)."""
    label, pred, dtype, size = task
    try:
        gt = read_label(Path(label), size)
        matrix = metrics.confusion(gt, read_prediction(Path(pred), dtype, size))
    except (OSError, ValueError) as exc:
        return None, str(exc)
    return matrix, None


def pair(label_entries: list[dict], preds: predictions.PredictionSet, limit: int | None) -> list[tuple[dict, Path]]:
    """(label entry, prediction file) per scored image: all of them, or the first LIMIT labels that have one."""
    entries = sorted(label_entries, key=lambda e: natural_key(e["stem"]))
    by_fid: dict[str, Path] = {}
    extra: list[str] = []
    for stem, path in preds.files.items():
        fid = frame_id_from_stem(stem)
        if fid is None:
            extra.append(path.name)
        else:
            by_fid[fid] = path
    if limit is not None:
        chosen = [(e, by_fid[e["stem"]]) for e in entries[:limit] if e["stem"] in by_fid]
        if not chosen:
            raise KitError(f"none of the first {limit} labelled images has a prediction in {preds.folder}; "
                           "check --pred and --labels belong to the same images")
        return chosen
    label_fids = {e["stem"] for e in entries}
    missing = [image_stem(e["stem"]) for e in entries if e["stem"] not in by_fid]
    extra += sorted((by_fid[f].name for f in by_fid if f not in label_fids), key=natural_key)
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"{len(missing)} labelled image(s) have no prediction: {_listing(missing)}")
        if extra:
            parts.append(f"{len(extra)} prediction(s) have no label: {_listing(extra)}")
        raise KitError(f"predictions in {preds.folder} and labels do not cover the same images: {'; '.join(parts)}; "
                       "rerun inference on the same LIMIT, or pass --limit N to score the first N labels")
    return [(e, by_fid[e["stem"]]) for e in entries]


def check_sizes(pairs: list[tuple[dict, Path]], size: tuple[int, int], dtype: str) -> None:
    """Every prediction must hold exactly H x W values of the label dtype."""
    expected = size[0] * size[1] * np.dtype(np.dtype(dtype)).itemsize
    bad = []
    for _, path in pairs:
        actual = path.stat().st_size
        if actual != expected:
            bad.append(f"{path} is {actual} bytes, expected {expected}")
    if bad:
        raise KitError(f"{len(bad)} prediction file(s) have the wrong size for {size[0]}x{size[1]} {dtype}: "
                       f"{_listing(bad, 20)}; check --label-dtype (the OM/ONNX output dtype) and --height/--width")


def load_provenance(files: Sequence[Path]) -> dict:
    """Merge the given provenance JSON objects (later files win on equal keys)."""
    merged: dict = {}
    for path in files:
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise KitError(f"--provenance {path} is not readable JSON ({exc}); fix or drop it") from None
        if not isinstance(data, dict):
            raise KitError(f"--provenance {path} must hold a JSON object")
        merged.update(data)
    return merged


DEGENERATE_SHARE = 0.95


def degenerate_warnings(matrix: np.ndarray) -> list[str]:
    """A warning when one class takes more than 95% of the predicted (scored) pixels: garbage weights or
    a broken graph give a plausible-looking mIoU otherwise."""
    predicted = np.asarray(matrix, dtype=np.int64).sum(axis=0)[:len(CLASSES)]
    total = int(np.asarray(matrix, dtype=np.int64).sum())
    if not total:
        return []
    top = int(predicted.argmax())
    share = predicted[top] / total
    if share <= DEGENERATE_SHARE:
        return []
    return [f"degenerate predictions: '{CLASSES[top]}' covers {100 * share:.1f}% of the scored pixels "
            f"(more than {100 * DEGENERATE_SHARE:.0f}%); check the weights and the model before trusting this mIoU"]


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def summary_line(report: dict) -> str:
    return (f"mIoU {_fmt(report['mIoU'])}  aAcc {_fmt(report['aAcc'])}  mAcc {_fmt(report['mAcc'])}  "
            f"({report['num_images']} images)")


def markdown(report: dict) -> str:
    lines = [f"# {report['title']}", "", summary_line(report), "", "| class | IoU | Acc |", "|---|---:|---:|"]
    for name in CLASSES:
        cls = report["per_class"][name]
        lines.append(f"| {name} | {_fmt(cls['IoU'])} | {_fmt(cls['Acc'])} |")
    lines.append(f"| **mean** | **{_fmt(report['mIoU'])}** | **{_fmt(report['mAcc'])}** |")
    preds = report["predictions"]
    lines += ["", f"Labels: {report['labels']['mode']} ({report['labels']['manifest']}); "
              f"predictions: written by {preds.get('writer') or 'the inference step'} in {preds['folder']}."]
    if report.get("panels"):
        first = Path(report["panels"][0])
        lines += ["", f"![{first.stem}]({first.parent.name}/{first.name})"]
    lines += [f"Warning: {w}" for w in report.get("warnings", [])]
    if report["invalid_prediction_pixels"]:
        lines.append(f"Warning: {report['invalid_prediction_pixels']} predicted pixels were outside 0..18 (counted as wrong).")
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class ScoreOptions:
    """One scoring run: tools/score.py's flags (pred folder, labels folder, outputs, panels, provenance)."""

    pred: Path
    labels_dir: Path
    out_json: Path
    label_dtype: str = DEFAULT_LABEL_DTYPE
    out_md: Path | None = None
    height: int | None = None
    width: int | None = None
    limit: int | None = None
    jobs: int | None = None
    panels: int = 0
    data_root: Path | None = None
    panel_dir: Path | None = None
    provenance: Sequence[Path] = ()
    title: str | None = None


def check_options(opts: ScoreOptions) -> None:
    """Refuse a bad dtype, panels without their folders, or an unwritable report folder before reading anything."""
    if opts.label_dtype not in LABEL_DTYPES:
        raise KitError(not_one_of("LABEL_DTYPE", opts.label_dtype, LABEL_DTYPES))
    if opts.panels and (opts.data_root is None or opts.panel_dir is None):
        raise KitError("--panels needs --data-root (for the images) and --panel-dir (where panels go)")
    for target in [opts.out_json, opts.out_md] + ([Path(opts.panel_dir) / "x"] if opts.panels else []):
        if target is not None:
            ensure_writable_dir(Path(target).parent, "report folder")


def _size(opts: ScoreOptions, manifest: dict, first_label: Path) -> tuple[int, int]:
    """(H, W) of the predictions: the flags, else the labels manifest, else the first label PNG."""
    size = (opts.height or manifest.get("height"), opts.width or manifest.get("width"))
    if not all(size):
        gt0 = cv2.imread(str(first_label), cv2.IMREAD_UNCHANGED)
        size = gt0.shape[:2] if gt0 is not None else size
    return size  # type: ignore[return-value]


def accumulate(tasks: list[tuple[str, str, str, tuple[int, int]]], jobs: int | None) -> np.ndarray:
    """The summed confusion matrix over all images, in parallel; one KitError naming every unreadable image."""
    matrix, errors = metrics.empty_matrix(), []
    for counts, error in imap(_score_one, tasks, jobs, "score"):
        if error:
            errors.append(error)
        else:
            matrix += counts
    if errors:
        raise KitError(f"{len(errors)} image(s) could not be scored: {'; '.join(errors[:20])}")
    return matrix


def score(opts: ScoreOptions) -> dict:
    """Pair, check, accumulate, write the reports (and panels); return the report dict."""
    check_options(opts)
    labels_dir = Path(opts.labels_dir)
    extra_provenance = load_provenance(opts.provenance)
    manifest = read_manifest(labels_dir)
    preds = predictions.load(opts.pred)
    pairs = pair(manifest["images"], preds, opts.limit)
    size = _size(opts, manifest, labels_dir / pairs[0][0]["label"])
    check_sizes(pairs, size, opts.label_dtype)
    verified = verify_predictions(preds.folder, [p for _, p in pairs], opts.jobs)
    matrix = accumulate([(str(labels_dir / e["label"]), str(p), opts.label_dtype, tuple(size)) for e, p in pairs],
                        opts.jobs)
    result = metrics.summarize(matrix)
    if result["invalid_prediction_pixels"]:
        print(f"warning: {result['invalid_prediction_pixels']} predicted pixels are outside 0..18 "
              "(counted as wrong); is --label-dtype right?", file=sys.stderr)
    labels_json = labels_dir / "labels.json"
    inputs = {"labels_manifest": str(labels_json), "labels_manifest_sha256": sha256_file(labels_json),
              "label_mode": manifest.get("mode"), "pred_folder": str(preds.folder),
              "pred_summary": str(preds.summary) if preds.summary else None, "pred_layout": preds.layout,
              "label_dtype": opts.label_dtype, "limit": opts.limit, "pred_manifest_verified": verified}
    report = {
        "title": opts.title or f"SeMask-FPN Cityscapes val ({preds.folder.name})",
        "mIoU": result["mIoU"], "aAcc": result["aAcc"], "mAcc": result["mAcc"],
        "per_class": result["per_class"], "num_images": len(pairs),
        "height": int(size[0]), "width": int(size[1]),
        "invalid_prediction_pixels": result["invalid_prediction_pixels"], "valid_pixels": result["valid_pixels"],
        "warnings": degenerate_warnings(matrix),
        "images": [image_stem(e["stem"]) for e, _ in pairs],
        "labels": {"manifest": str(labels_json), "mode": manifest.get("mode"), "data_root": manifest.get("data_root")},
        "predictions": {"folder": str(preds.folder), "summary": inputs["pred_summary"], "layout": preds.layout,
                        "writer": _writer(preds.summary)},
        # the model that made the predictions, from its sidecar via the summary (what the tables name)
        "model": _summary(preds.summary).get("model_identity"),
        "dataset": dataset_facts([image_stem(e["stem"]) for e, _ in pairs], size[0], size[1], manifest.get("data_root")),
        "confusion_matrix": {"rows": "ground-truth train id 0..18",
                             "cols": "predicted train id 0..18, then 'outside 0..18'", "counts": matrix.tolist()},
        "provenance": {**extra_provenance, "score": inputs},
    }
    for warning in report["warnings"]:
        print(f"warning: {warning}", file=sys.stderr)
    if opts.panels:
        report["panels"] = _write_panels(pairs[:opts.panels], labels_dir, Path(opts.data_root), Path(opts.panel_dir),
                                         opts.label_dtype, size,
                                         extra_provenance, report["model"])
    atomic_write_json(opts.out_json, report)
    if opts.out_md is not None:
        atomic_write_text(opts.out_md, markdown(report))
    return report


def _summary(summary: Path | None) -> dict:
    """The inference summary's JSON object ({} when there is none or it is unreadable)."""
    return read_json(summary) or {}


def _writer(summary: Path | None) -> str | None:
    """The tool that wrote the predictions, from its summary (so no text names a tool that did not run)."""
    info = _summary(summary)
    if not info:
        return None
    if info.get("backend") == "onnxruntime":
        return f"ONNX Runtime ({info.get('provider', '?')})"
    if info.get("backend") == "ascend" or "NPU_compute_time" in info:
        return "ais_bench"
    return None


def _write_panels(pairs: list[tuple[dict, Path]], labels_dir: Path, data_root: Path, panel_dir: Path,
                  dtype: str, size: tuple[int, int], prov: dict | None = None,
                  identity: dict | None = None) -> list[str]:
    prov = prov or {}
    variables = prov.get("variables") or {}
    who = f"{model_label(variables)} | weights: {weights_label(prov, identity).replace('**', '')}" if variables else ""
    written = []
    for entry, pred_path in pairs:
        image_path = data_root / entry["image"]
        image = cv2.imread(str(image_path), cv2.IMREAD_COLOR)
        if image is None:
            raise KitError(f"panel image {image_path} cannot be read; is --data-root the DATA_ROOT the labels came from?")
        gt = read_label(labels_dir / entry["label"], size)
        out = panel_dir / f"{entry['stem']}_panel.png"
        pred = read_prediction(pred_path, dtype, size)
        miou = frame_miou(gt, pred)
        title = [f"{image_stem(entry['stem'])} | mIoU of this frame: {_fmt(miou)}"] + ([who] if who else [])
        write_panel(out, image, gt, pred, title)
        written.append(str(out))
    return written
