"""Visual check for a few images: image | ground truth | prediction, in the Cityscapes palette."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from semask.data.cityscapes import PALETTE
from semask.core.fsio import atomic_path

_BGR = np.zeros((256, 3), np.uint8)  # ignore (255) and anything unknown stays black
_BGR[: len(PALETTE)] = np.array(PALETTE, np.uint8)[:, ::-1]
_INVALID = (255, 255, 255)  # predictions outside 0..18 are drawn white


def colorize(train_ids: np.ndarray) -> np.ndarray:
    """BGR image of a train-id map; values outside 0..255 (possible in int predictions) are white."""
    ids = np.asarray(train_ids)
    out_of_range = (ids < 0) | (ids > 255)
    colour = _BGR[np.clip(ids, 0, 255).astype(np.uint8)]
    colour[out_of_range | ((ids >= len(PALETTE)) & (ids != 255))] = _INVALID
    return colour


def write_panel(path: Path, image_bgr: np.ndarray, gt: np.ndarray, pred: np.ndarray, max_width: int = 1024) -> None:
    """Three views side by side, scaled down to at most `max_width` pixels wide, written atomically."""
    h, w = gt.shape
    if image_bgr.shape[:2] != (h, w):
        image_bgr = cv2.resize(image_bgr, (w, h), interpolation=cv2.INTER_AREA)
    panel = np.concatenate([image_bgr, colorize(gt), colorize(pred)], axis=1)
    if panel.shape[1] > max_width:
        scale = max_width / panel.shape[1]
        panel = cv2.resize(panel, (max_width, max(1, round(panel.shape[0] * scale))), interpolation=cv2.INTER_AREA)
    with atomic_path(path, suffix=".tmp.png") as tmp:
        if not cv2.imwrite(str(tmp), panel):
            raise OSError(f"cv2 could not write {path}")
