"""Panels a person reads: image | ground truth | prediction | errors, titled, captioned, with a legend.

Why: three unlabelled strips say nothing to someone who did not write the code. Each panel carries
a title row (image name, that frame's mIoU, model, weights), a caption over every column, an error
column (pixels where prediction and ground truth disagree in red, ignore pixels grey) and the
Cityscapes class-colour legend, at a width a screen shows.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import cv2
import numpy as np

from semask.data.cityscapes import CLASSES, IGNORE_INDEX, PALETTE
from semask.core.errors import KitError
from semask.core.fsio import atomic_write_bytes

_BGR = np.zeros((256, 3), np.uint8)  # ignore (255) and anything unknown stays black
_BGR[: len(PALETTE)] = np.array(PALETTE, np.uint8)[:, ::-1]
_INVALID = (255, 255, 255)  # predictions outside 0..18 are drawn white

CAPTIONS = ("image", "ground truth", "prediction", "errors (red: prediction != ground truth)")
COLUMN_WIDTH = 470          # 4 columns + margins = 1910 px: a 1920-pixel screen shows the whole panel
ERROR_BGR = (0, 0, 255)
IGNORE_BGR = (128, 128, 128)
_FONT = cv2.FONT_HERSHEY_SIMPLEX
_BG = (255, 255, 255)
_FG = (0, 0, 0)


def colorize(train_ids: np.ndarray) -> np.ndarray:
    """BGR image of a train-id map; values outside 0..255 (possible in int predictions) are white."""
    ids = np.asarray(train_ids)
    out_of_range = (ids < 0) | (ids > 255)
    colour = _BGR[np.clip(ids, 0, 255).astype(np.uint8)]
    colour[out_of_range | ((ids >= len(PALETTE)) & (ids != 255))] = _INVALID
    return colour


def error_map(image_bgr: np.ndarray, gt: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """The image dimmed to grey, wrong pixels pure red, ignore pixels mid grey."""
    grey = cv2.cvtColor(image_bgr, cv2.COLOR_BGR2GRAY)
    out = cv2.cvtColor((grey // 3 + 40).astype(np.uint8), cv2.COLOR_GRAY2BGR)
    ignore = gt == IGNORE_INDEX
    out[ignore] = IGNORE_BGR
    out[(gt != pred) & ~ignore] = ERROR_BGR
    return out


def frame_miou(gt: np.ndarray, pred: np.ndarray) -> float | None:
    """mmseg mIoU of one frame (percent), None when it has no valid pixel."""
    from semask.evaluate import metrics

    return metrics.summarize(metrics.confusion(gt, pred))["mIoU"]


def _text_row(width: int, lines: Sequence[str], scale: float = 0.6, thickness: int = 1) -> np.ndarray:
    line_h = int(30 * scale / 0.6)
    row = np.full((line_h * len(lines) + 10, width, 3), _BG, np.uint8)
    for i, text in enumerate(lines):
        cv2.putText(row, _ascii(text), (8, line_h * (i + 1)), _FONT, scale, _FG, thickness, cv2.LINE_AA)
    return row


def _ascii(text: str) -> str:
    """OpenCV's Hershey fonts draw ASCII only."""
    return text.encode("ascii", "replace").decode().replace("?", "-") if not text.isascii() else text


def _legend(width: int) -> np.ndarray:
    """Class-colour swatches with names, wrapped to `width`."""
    cell_w, cell_h, sw = 190, 24, 18
    per_row = max(1, (width - 8) // cell_w)
    rows = (len(CLASSES) + per_row - 1) // per_row
    legend = np.full((rows * cell_h + 8, width, 3), _BG, np.uint8)
    for i, name in enumerate(CLASSES):
        x, y = 8 + (i % per_row) * cell_w, 4 + (i // per_row) * cell_h
        cv2.rectangle(legend, (x, y + 3), (x + sw, y + 3 + sw), tuple(int(c) for c in _BGR[i]), -1)
        cv2.rectangle(legend, (x, y + 3), (x + sw, y + 3 + sw), _FG, 1)
        cv2.putText(legend, name, (x + sw + 6, y + 18), _FONT, 0.5, _FG, 1, cv2.LINE_AA)
    return legend


def compose_panel(image_bgr: np.ndarray, gt: np.ndarray, pred: np.ndarray, title: Sequence[str] = (),
                  column_width: int = COLUMN_WIDTH) -> tuple[np.ndarray, dict]:
    """The panel array and its layout ({'columns': [(x0, y0, x1, y1)] of the four views})."""
    h, w = gt.shape
    if image_bgr.shape[:2] != (h, w):
        image_bgr = cv2.resize(image_bgr, (w, h), interpolation=cv2.INTER_AREA)
    col_h = max(1, round(h * column_width / w))
    views = [image_bgr, colorize(gt), colorize(pred), error_map(image_bgr, gt, pred)]
    scaled = [cv2.resize(v, (column_width, col_h), interpolation=cv2.INTER_AREA if (i == 0 and w > column_width)
                         else cv2.INTER_NEAREST) for i, v in enumerate(views)]
    gap = 6
    width = 4 * column_width + 5 * gap
    captions = np.full((34, width, 3), _BG, np.uint8)
    strip = np.full((col_h, width, 3), _BG, np.uint8)
    boxes = []
    for i, (view, caption) in enumerate(zip(scaled, CAPTIONS)):
        x0 = gap + i * (column_width + gap)
        strip[:, x0:x0 + column_width] = view
        cv2.putText(captions, caption, (x0, 24), _FONT, 0.55, _FG, 1, cv2.LINE_AA)
        boxes.append((x0, x0 + column_width))
    head = _text_row(width, list(title) or [""])
    panel = np.concatenate([head, captions, strip, np.full((gap, width, 3), _BG, np.uint8), _legend(width)], axis=0)
    top = head.shape[0] + captions.shape[0]
    return panel, {"columns": [(x0, top, x1, top + col_h) for x0, x1 in boxes]}


def write_panel(path: Path, image_bgr: np.ndarray, gt: np.ndarray, pred: np.ndarray,
                title: Sequence[str] = ()) -> None:
    """compose_panel, written atomically as PNG.

    Encoded in memory and written by Python: cv2.imwrite on a full disk prints `libpng error` and
    returns False with no reason; a Python write fails with ENOSPC, which the atomic write turns
    into one line naming the panel and the free space."""
    panel, _ = compose_panel(image_bgr, gt, pred, title)
    ok, png = cv2.imencode(".png", panel)
    if not ok:
        raise KitError(f"cv2 could not encode the panel {path} as PNG; this is a kit bug, please report it")
    atomic_write_bytes(path, png.tobytes())
