"""Ground truth for scoring: `<out>/<city>/<frame>_gtFine_labelTrainIds.png` (uint8, 255 = ignore).

Two ways to make them, recorded in labels.json because they are not guaranteed pixel-identical
(cityscapesScripts issue #29): 'polygons' renders the polygon JSON with cityscapesscripts'
createLabelImage(..., 'trainIds'), the routine upstream's converter uses; 'lut' maps the shipped
labelIds.png through the cityscapesscripts id -> trainId table.

createLabelImage fills polygons with Pillow's ImageDraw, and Pillow versions fill polygon edges
differently (10.4.0 vs 13.0.0: a few pixels per 256x512 frame). Both envs pin the same Pillow
(env/requirements.txt, env/upstream/requirements.txt) and labels.json records the one used, so
'polygons' labels equal upstream's converter output pixel for pixel (`make crosscheck`: "labels:
identical").
"""
from __future__ import annotations

from collections import Counter

import json
import sys
from pathlib import Path

import cv2
import numpy as np
from cityscapesscripts.helpers.annotation import Annotation
from cityscapesscripts.helpers.labels import labels as CS_LABELS, name2label
from cityscapesscripts.preparation.json2labelImg import createLabelImage

from semask.data.cityscapes import (IGNORE_INDEX, NUM_CLASSES, TRAIN_IDS_SUFFIX, Frame, check_out_of_data_root, load_frames,
                                    png_header)
from semask.data.download import ensure_dataset
from semask.core.errors import KitError, not_one_of
from semask.spec import LABEL_MODES, step_code_files
from semask.core.fsio import atomic_write_bytes, ensure_writable_dir, sha256_bytes, sha256_file
from semask.core.fsio import read_json
from semask.core.journal import JournaledManifest, code_fingerprint, is_verified, previous_records, run_journaled

MODES = LABEL_MODES
MANIFEST = "labels.json"


def pillow_version() -> str:
    """The Pillow that draws the polygons (recorded in labels.json: it decides the edge pixels)."""
    import PIL

    return PIL.__version__


def warn_unpinned_pillow() -> None:
    """Labels equal upstream's converter only with the Pillow both envs pin: say so when it is another."""
    from semask.core.packages import pinned_versions

    pinned, found = pinned_versions().get("pillow"), pillow_version()
    if pinned and found != pinned:
        print(f"warning: Pillow {found} is installed but env/requirements.txt pins {pinned}; polygon edges may "
              f"differ from upstream's converter by a few pixels per frame; run `make env` to install {pinned}",
              file=sys.stderr)


def train_id_lut() -> np.ndarray:
    """256-entry uint8 table labelId -> trainId; ignored classes, -1 and unknown ids give 255."""
    lut = np.full(256, IGNORE_INDEX, np.uint8)
    for label in CS_LABELS:
        if 0 <= label.id < 256 and 0 <= label.trainId < 255:
            lut[label.id] = label.trainId
    return lut


def train_to_label_id() -> np.ndarray:
    """256-entry table trainId -> labelId (0..NUM_CLASSES-1 to the official ids, anything else -> 0 'unlabeled')."""
    table = np.zeros(256, np.uint8)
    for label in CS_LABELS:
        if 0 <= label.trainId < NUM_CLASSES and not label.ignoreInEval:
            table[label.trainId] = label.id
    return table


def _known(label: str) -> bool:
    return label in name2label or (label.endswith("group") and label[: -len("group")] in name2label)


def render_polygons(path: Path) -> np.ndarray:
    """trainIds from the polygon JSON via cityscapesscripts.createLabelImage (upstream's converter)."""
    text = Path(path).read_text(encoding="utf-8")
    unknown = sorted({o.get("label", "?") for o in json.loads(text)["objects"] if not _known(o.get("label", "?"))})
    if unknown:  # createLabelImage would sys.exit() on these
        raise ValueError(f"unknown Cityscapes label(s) {unknown}")
    annotation = Annotation()
    annotation.fromJsonText(text)
    return np.asarray(createLabelImage(annotation, "trainIds"), dtype=np.uint8)


def lut_label_ids(path: Path, lut: np.ndarray | None = None) -> np.ndarray:
    """trainIds from the shipped labelIds.png through the id -> trainId table."""
    ids = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if ids is None or ids.ndim != 2 or ids.dtype != np.uint8:
        raise ValueError("cannot decode as 8-bit grayscale PNG")
    return (train_id_lut() if lut is None else lut)[ids]


def _convert(task: dict) -> dict:
    """Worker: make (or verify and keep) one labelTrainIds PNG; return its record or an error."""
    src = Path(task["source"])
    out = Path(task["out"])
    prev = task["prev"]
    try:
        src_sha = sha256_file(src)
        if prev and prev.get("source_sha256") == src_sha and is_verified(out, prev.get("sha256")):
            return {**prev, "written": False}
        train = render_polygons(src) if task["mode"] == "polygons" else lut_label_ids(src)
        if train.shape != tuple(task["size"]):
            raise ValueError(f"rendered {train.shape[0]}x{train.shape[1]}, expected {task['size'][0]}x{task['size'][1]}")
        ok, buf = cv2.imencode(".png", train)
        if not ok:
            raise ValueError("PNG encoding failed")
        data = buf.tobytes()
        atomic_write_bytes(out, data)
    except KitError as exc:
        return {"key": task["key"], "error": f"{out}: {exc}"}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return {"key": task["key"], "error": f"{src}: {type(exc).__name__}: {exc}"}
    return {"key": task["key"], "city": task["city"], "image": task["image"], "label": task["label"],
            "sha256": sha256_bytes(data), "source_sha256": src_sha, "written": True}


def native_size(frames: list[Frame]) -> tuple[int, int]:
    """The dataset's size: that of most frames (not the first one's: one odd first frame would blame every
    other file); every frame is then checked against it, so exactly the odd ones are named."""
    sizes: Counter = Counter()
    for frame in frames:
        try:
            sizes[tuple(png_header(frame.image)[:2])] += 1
        except (OSError, ValueError):
            continue  # validate_frames reports the broken file
    return sizes.most_common(1)[0][0] if sizes else (0, 0)


def prepare_labels(data_root: Path, out: Path, limit: int | None = None, mode: str = "polygons",
                   size: tuple[int, int] | None = None, jobs: int | None = None) -> dict:
    """Validate DATA_ROOT, write labelTrainIds PNGs (skipping verified ones), then labels.json last.

    Labels are the dataset's native size (`size` None: that of the first image, and every frame must
    match it): scoring compares at native size whatever size the model runs at.
    """
    if mode not in MODES:
        raise KitError(not_one_of("LABELS", mode, MODES))
    data_root, out = Path(data_root), Path(out)
    ensure_dataset(data_root)
    check_out_of_data_root(data_root, out)
    if size is None:
        frames = load_frames(data_root, limit, None, need_labels=False)
        size = native_size(frames)
    frames = load_frames(data_root, limit, size, need_labels=True)
    ensure_writable_dir(out, "labels output folder")
    header = {"mode": mode, "data_root": str(data_root.resolve()), "height": size[0], "width": size[1],
              "code": code_fingerprint(*step_code_files("labels")),
              "pillow": pillow_version() if mode == "polygons" else None}
    if mode == "polygons":
        warn_unpinned_pillow()
    prev = previous_records(out, MANIFEST, header, "images", "stem")
    tasks = [_task(frame, data_root, out, mode, size, prev.get(frame.fid)) for frame in frames]
    return run_journaled(_convert, tasks, jobs, "labels", JournaledManifest(
        out=out, manifest=MANIFEST, header=header, items="images", entry=_manifest_entry,
        failure="{n} label file(s) could not be made: {errors}; fix or replace those annotation files"))


def _manifest_entry(rec: dict) -> dict:
    """The manifest keeps what a rerun needs to trust a file, not the worker's bookkeeping."""
    return {"stem": rec["key"], "city": rec["city"], "image": rec["image"], "label": rec["label"],
            "sha256": rec["sha256"], "source_sha256": rec["source_sha256"]}


def _task(frame: Frame, data_root: Path, out: Path, mode: str, size: tuple[int, int], prev: dict | None) -> dict:
    label_rel = f"{frame.city}/{frame.fid}{TRAIN_IDS_SUFFIX}"
    return {"key": frame.fid, "city": frame.city, "mode": mode, "size": list(size), "prev": prev,
            "source": str(frame.polygons if mode == "polygons" else frame.label_ids),
            "image": frame.image.relative_to(data_root).as_posix(), "label": label_rel, "out": str(out / label_rel)}


def read_manifest(labels_dir: Path) -> dict:
    """labels.json of a prepared labels folder; KitError telling how to make it when absent/corrupt."""
    path = Path(labels_dir) / MANIFEST
    data = read_json(path)
    if data is None or "images" not in data:
        raise KitError(f"{path} is missing or unreadable; run tools/prepare_cityscapes.py --out {labels_dir} first")
    return data
