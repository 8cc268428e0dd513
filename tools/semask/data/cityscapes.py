"""Cityscapes facts the kit relies on: the 19 train-id classes, the palette, file naming, and the
val-split layout under DATA_ROOT (discovery, validation and the shared LIMIT selection rule).

Validation is cheap on purpose (PNG signature, IHDR size and IEND trailer, JSON parse) so that a
truncated or renamed file is caught before any worker starts, and every problem is reported in
one KitError instead of one per run.
"""
from __future__ import annotations

import json
import re
import struct
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

from semask.core.errors import KitError
from semask.core.fsio import natural_key

# The class list, class count, ignore value and input normalisation live in semask.spec.
from semask.spec import CLASSES, IGNORE_INDEX, MEAN_RGB, NUM_CLASSES, STD_RGB  # noqa: F401 (re-exported)

# Train-id colours (RGB), the palette Cityscapes and mmseg use for visualisation.
PALETTE: tuple[tuple[int, int, int], ...] = (
    (128, 64, 128), (244, 35, 232), (70, 70, 70), (102, 102, 156), (190, 153, 153),
    (153, 153, 153), (250, 170, 30), (220, 220, 0), (107, 142, 35), (152, 251, 152),
    (70, 130, 180), (220, 20, 60), (255, 0, 0), (0, 0, 142), (0, 0, 70), (0, 60, 100),
    (0, 80, 100), (0, 0, 230), (119, 11, 32),
)

SPLIT = "val"
VAL_CITY_COUNTS: dict[str, int] = {"frankfurt": 267, "lindau": 59, "munster": 174}
VAL_TOTAL = sum(VAL_CITY_COUNTS.values())  # 500
CITIES: tuple[str, ...] = tuple(VAL_CITY_COUNTS)

DOWNLOAD_URL = "https://www.cityscapes-dataset.com/downloads/"
PACKAGES: tuple[str, ...] = ("gtFine_trainvaltest.zip", "leftImg8bit_trainvaltest.zip")

# Written into DATA_ROOT by the kit's synthetic generator: such data is labelled "synthetic", always.
SYNTHETIC_MARKER = "SYNTHETIC_DATA_BY_SEMASK_KIT.json"

IMAGE_SUFFIX = "_leftImg8bit.png"
POLYGONS_SUFFIX = "_gtFine_polygons.json"
LABEL_IDS_SUFFIX = "_gtFine_labelIds.png"
TRAIN_IDS_SUFFIX = "_gtFine_labelTrainIds.png"
# Other files Cityscapes ships beside the annotations; they are expected, not stray.
_KNOWN_GT_SUFFIXES = (POLYGONS_SUFFIX, LABEL_IDS_SUFFIX, "_gtFine_instanceIds.png", "_gtFine_color.png",
                      TRAIN_IDS_SUFFIX, "_gtFine_instanceTrainIds.png")

_IMAGE_RE = re.compile(r"^(?P<city>[a-z_]+)_(?P<seq>\d{6})_(?P<frame>\d{6})_leftImg8bit\.png$")
_PNG_SIG = b"\x89PNG\r\n\x1a\n"
_PNG_IEND = b"\x00\x00\x00\x00IEND\xaeB`\x82"
_PNG_RGB, _PNG_GRAY = 2, 0


def frame_id(city: str, seq: int, frame: int) -> str:
    """`<city>_<seq:06d>_<frame:06d>`: the part every Cityscapes file name of one frame shares."""
    return f"{city}_{seq:06d}_{frame:06d}"


def image_stem(fid: str) -> str:
    """The stem ais_bench derives from a preprocessed bin: `<frame id>_leftImg8bit`."""
    return f"{fid}_leftImg8bit"


def frame_id_from_stem(stem: str) -> str | None:
    """Inverse of `image_stem`; None when `stem` is not a Cityscapes image stem."""
    return stem[: -len("_leftImg8bit")] if stem.endswith("_leftImg8bit") else None


@dataclass(frozen=True)
class Frame:
    """One val frame: its id, city and the paths of its image and annotations under DATA_ROOT."""

    fid: str
    city: str
    image: Path
    polygons: Path
    label_ids: Path

    @property
    def stem(self) -> str:
        return image_stem(self.fid)


def _warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)


def _listing(items: Sequence[str], cap: int = 50) -> str:
    shown = "; ".join(items[:cap])
    return shown + (f"; ... and {len(items) - cap} more" if len(items) > cap else "")


def missing_dataset_message(data_root: Path) -> str:
    """What to download and where to unpack it when DATA_ROOT has no Cityscapes layout."""
    return (
        f"DATA_ROOT={data_root} has no Cityscapes layout (need {data_root}/leftImg8bit/val and "
        f"{data_root}/gtFine/val). Log in at {DOWNLOAD_URL}, download the packages {PACKAGES[0]} and "
        f"{PACKAGES[1]}, and unzip both into {data_root} so that DATA_ROOT/leftImg8bit/val and "
        "DATA_ROOT/gtFine/val exist (or set CITYSCAPES_USERNAME and CITYSCAPES_PASSWORD to let "
        "prepare download them)"
    )


def check_out_of_data_root(data_root: Path, out: Path) -> None:
    """The kit never writes into DATA_ROOT."""
    root, dest = data_root.resolve(), out.resolve()
    if dest == root or root in dest.parents:
        raise KitError(f"output folder {out} is inside DATA_ROOT={data_root}; the kit never writes into DATA_ROOT, choose another --out")


def discover(data_root: Path, split: str = SPLIT, need_labels: bool = True) -> tuple[list[Frame], list[Path]]:
    """List the frames under DATA_ROOT/leftImg8bit/<split>; return (frames in natural order, stray files).

    Stray files are everything in the image folders that does not follow the Cityscapes naming,
    and annotation files without an image; the caller warns about them and never uses them.
    `need_labels=False` (the crosscheck: images only) accepts a DATA_ROOT without gtFine.
    """
    img_root = data_root / "leftImg8bit" / split
    gt_root = data_root / "gtFine" / split
    if not img_root.is_dir() or (need_labels and not gt_root.is_dir()):
        raise KitError(missing_dataset_message(data_root))
    frames: list[Frame] = []
    stray: list[Path] = []
    for city_dir in sorted(p for p in img_root.iterdir()):
        if not city_dir.is_dir():
            stray.append(city_dir)
            continue
        for path in city_dir.iterdir():
            match = _IMAGE_RE.match(path.name)
            if not match or match["city"] != city_dir.name or not path.is_file():
                stray.append(path)
                continue
            fid = frame_id(match["city"], int(match["seq"]), int(match["frame"]))
            gt_dir = gt_root / city_dir.name
            frames.append(Frame(fid, city_dir.name, path, gt_dir / f"{fid}{POLYGONS_SUFFIX}",
                                gt_dir / f"{fid}{LABEL_IDS_SUFFIX}"))
    known = {f.fid for f in frames}
    for city_dir in sorted(p for p in gt_root.iterdir() if p.is_dir()) if gt_root.is_dir() else ():
        for path in city_dir.iterdir():
            suffix = next((s for s in _KNOWN_GT_SUFFIXES if path.name.endswith(s)), None)
            if suffix is None or path.name[: -len(suffix)] not in known:
                stray.append(path)
    frames.sort(key=lambda f: natural_key(f.stem))
    return frames, sorted(stray, key=lambda p: natural_key(str(p)))


def select_first(frames: Sequence[Frame], limit: int | None) -> list[Frame]:
    """The LIMIT rule shared by prepare, preprocess and score: the first N frames in natural-sort order of the stem."""
    ordered = sorted(frames, key=lambda f: natural_key(f.stem))
    return ordered if limit is None else ordered[:limit]


def check_counts(frames: Sequence[Frame], data_root: Path, limit: int | None) -> None:
    """Insist on the full val split (500 = 267/59/174) unless LIMIT asks for a subset."""
    if limit is not None:
        if len(frames) < limit:
            raise KitError(
                f"LIMIT={limit} but {data_root}/leftImg8bit/{SPLIT} holds only {len(frames)} images; "
                "lower LIMIT or complete the dataset"
            )
        return
    counts = {city: 0 for city in VAL_CITY_COUNTS}
    for frame in frames:
        counts[frame.city] = counts.get(frame.city, 0) + 1
    if counts != VAL_CITY_COUNTS:
        detail = ", ".join(
            f"{city} {counts.get(city, 0)}/{VAL_CITY_COUNTS.get(city, 0)}" for city in sorted(set(counts) | set(VAL_CITY_COUNTS))
        )
        missing = sum(max(0, n - counts.get(c, 0)) for c, n in VAL_CITY_COUNTS.items())
        raise KitError(
            f"{data_root}/leftImg8bit/{SPLIT} has {len(frames)} images, expected the full val split of "
            f"{VAL_TOTAL} ({detail}; {missing} missing); re-extract {PACKAGES[1]} into DATA_ROOT, or "
            "pass LIMIT=N to use the first N images"
        )


def _ihdr(head: bytes) -> tuple[int, int, int, int]:
    """(height, width, bit depth, colour type) from a PNG's first 26 bytes; ValueError when not a PNG."""
    if len(head) < 26 or head[:8] != _PNG_SIG or head[12:16] != b"IHDR":
        raise ValueError("not a PNG file")
    width, height, depth, ctype = struct.unpack(">IIBB", head[16:26])
    return height, width, depth, ctype


def png_size(path: Path) -> tuple[int, int] | None:
    """(height, width) from a PNG's header, or None when unreadable or not a PNG (the trailer is not read:
    the plan asks this at parse time, of the first val image only)."""
    try:
        with open(path, "rb") as fh:
            return _ihdr(fh.read(26))[:2]
    except (OSError, ValueError):
        return None


def png_header(path: Path) -> tuple[int, int, int, int]:
    """(height, width, bit depth, colour type) from a PNG's IHDR; ValueError when not a complete PNG.

    A complete PNG ends in an IEND chunk, so checking the trailer catches truncated files without
    decoding them.
    """
    with open(path, "rb") as fh:
        head = fh.read(33)
        if len(head) < 33:
            raise ValueError("not a PNG file")
        header = _ihdr(head)
        fh.seek(0, 2)
        size = fh.tell()
        fh.seek(max(0, size - 12))
        if fh.read(12) != _PNG_IEND:
            raise ValueError("truncated PNG (no IEND trailer)")
    return header


def _check_png(path: Path, size: tuple[int, int] | None, ctype: int, what: str) -> str | None:
    if not path.is_file():
        return f"{path}: missing {what}"
    try:
        height, width, depth, found = png_header(path)
    except (OSError, ValueError) as exc:
        return f"{path}: corrupt {what} ({exc})"
    if depth != 8 or found != ctype:
        kind = "8-bit RGB" if ctype == _PNG_RGB else "8-bit grayscale"
        return f"{path}: {what} is not {kind} (bit depth {depth}, colour type {found})"
    if size is not None and (height, width) != size:
        return f"{path}: {what} is {height}x{width}, expected {size[0]}x{size[1]}"
    return None


def _check_object(obj: object, index: int) -> None:
    """One polygon object as cityscapesscripts reads it: a label and a list of [x, y] number pairs."""
    if not isinstance(obj, dict) or not isinstance(obj.get("label"), str):
        raise ValueError(f"objects[{index}] has no 'label' string")
    polygon = obj.get("polygon")
    if not isinstance(polygon, list) or not all(
            isinstance(pt, list) and len(pt) == 2 and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in pt)
            for pt in polygon):
        raise ValueError(f"objects[{index}] ({obj['label']}): 'polygon' is not a list of [x, y] points")


def _check_polygons(path: Path, size: tuple[int, int] | None) -> str | None:
    if not path.is_file():
        return f"{path}: missing polygon annotation"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        shape = (int(data["imgHeight"]), int(data["imgWidth"]))
        objects = data["objects"]
        if not isinstance(objects, list):
            raise ValueError("'objects' is not a list")
        for index, obj in enumerate(objects):
            _check_object(obj, index)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return f"{path}: corrupt polygon JSON ({type(exc).__name__}: {exc})"
    if size is not None and shape != size:
        return f"{path}: polygons are for {shape[0]}x{shape[1]}, expected {size[0]}x{size[1]}"
    return None


def validate_frames(frames: Iterable[Frame], size: tuple[int, int] | None, need_labels: bool) -> None:
    """Check every file of `frames`; raise ONE KitError listing each missing, corrupt or wrong-size file.

    `size` = (H, W) every image and annotation must have; None skips the size check (preprocess
    resizes per frame instead).
    """
    problems: list[str] = []
    for frame in frames:
        checks = [_check_png(frame.image, size, _PNG_RGB, "image")]
        if need_labels:
            checks += [_check_polygons(frame.polygons, size), _check_png(frame.label_ids, size, _PNG_GRAY, "labelIds")]
        problems.extend(p for p in checks if p)
    if problems:
        raise KitError(
            f"{len(problems)} bad input file(s) under DATA_ROOT: {_listing(problems)}; replace them from "
            f"the original {PACKAGES[1]} / {PACKAGES[0]} (or regenerate the synthetic set)"
        )


def load_frames(data_root: Path, limit: int | None, size: tuple[int, int] | None, need_labels: bool) -> list[Frame]:
    """Discover, warn about strays, check counts, select the first LIMIT and validate them."""
    frames, stray = discover(data_root)
    for path in stray:
        _warn(f"ignoring stray file {path} (not Cityscapes naming)")
    if not frames:
        raise KitError(f"no *{IMAGE_SUFFIX} images under {data_root}/leftImg8bit/{SPLIT}/<city>/; "
                       + missing_dataset_message(data_root))
    check_counts(frames, data_root, limit)
    chosen = select_first(frames, limit)
    validate_frames(chosen, size, need_labels)
    return chosen
