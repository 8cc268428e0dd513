"""Streaming confusion matrix and mmseg's mIoU / mAcc / aAcc (totals accumulated over the dataset).

The matrix is 19 x 20: rows are ground-truth train ids, columns are predicted train ids plus one
extra column for predictions outside 0..18, which count as wrong for their ground-truth class
(they add to that class's label area, not to any class's prediction area). Ground-truth 255 is
ignored, as in mmseg (ignore_index=255, reduce_zero_label=False).
"""
from __future__ import annotations

import math

import cv2
import numpy as np

from semask.data.cityscapes import CLASSES, IGNORE_INDEX, NUM_CLASSES

INVALID_COL = NUM_CLASSES  # column for out-of-range predictions
_COLS = NUM_CLASSES + 1
_SENTINEL = NUM_CLASSES * _COLS  # index past the matrix: ignored pixels land here
# gt value -> row offset (gt * 20), 255 and any other non-class value -> sentinel
_ROW = np.full(256, _SENTINEL, np.uint16)
_ROW[:NUM_CLASSES] = np.arange(NUM_CLASSES, dtype=np.uint16) * _COLS
_ROW_LUT = _ROW.reshape(1, 256)
_BINS = _SENTINEL + _COLS


def empty_matrix() -> np.ndarray:
    return np.zeros((NUM_CLASSES, _COLS), np.int64)


def _pred_to_col(pred: np.ndarray) -> np.ndarray:
    """Predictions as uint16 column indices; values outside 0..18 go to the INVALID column."""
    if pred.dtype == np.uint8:
        if int(pred.max(initial=0)) < NUM_CLASSES:
            return pred.astype(np.uint16)
    else:
        lo, hi = int(pred.min(initial=0)), int(pred.max(initial=0))
        if lo >= 0 and hi < NUM_CLASSES:
            return pred.astype(np.uint16)
    bad = (pred < 0) | (pred >= NUM_CLASSES)
    return np.where(bad, INVALID_COL, pred).astype(np.uint16)


def confusion(gt: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """19 x 20 counts for one image; gt uint8 train ids (255 ignore, other non-classes also ignored)."""
    if gt.shape != pred.shape:
        raise ValueError(f"ground truth {gt.shape} and prediction {pred.shape} differ in shape")
    gt = np.ascontiguousarray(gt, dtype=np.uint8).reshape(1, -1)
    idx = cv2.LUT(gt, _ROW_LUT)  # uint16 row offsets; several times faster than numpy fancy indexing
    idx += _pred_to_col(pred.reshape(1, -1))
    return _histogram(idx)[:_SENTINEL].reshape(NUM_CLASSES, _COLS)


def _histogram(idx: np.ndarray) -> np.ndarray:
    """Counts of 0.._BINS-1 in a uint16 array. cv2.calcHist is ~2x faster than np.bincount (which
    widens to int64 first); its float32 counts are exact below 2**24, so large inputs are split."""
    flat = idx.reshape(-1)
    total = np.zeros(_BINS, np.int64)
    step = 1 << 23
    for start in range(0, flat.size, step):
        part = flat[start:start + step].reshape(1, -1)
        total += cv2.calcHist([part], [0], None, [_BINS], [0, _BINS]).reshape(-1).astype(np.int64)
    return total


def ignored_gt_values(gt: np.ndarray) -> set[int]:
    """Ground-truth values that are neither a class nor 255 (a broken label file)."""
    values = np.unique(gt)
    return {int(v) for v in values if v >= NUM_CLASSES and v != IGNORE_INDEX}


def summarize(matrix: np.ndarray) -> dict:
    """mmseg's metrics from accumulated totals, in percent.

    IoU_c = I/(label_c + pred_c - I), Acc_c = I/label_c, aAcc = sum(I)/sum(label); classes with a
    zero denominator are NaN and skipped by nanmean (a class absent from GT but predicted has IoU 0
    and Acc NaN, exactly as mmseg).
    """
    matrix = np.asarray(matrix, dtype=np.int64)
    inter = np.diag(matrix[:, :NUM_CLASSES]).astype(np.float64)
    area_label = matrix.sum(axis=1).astype(np.float64)
    area_pred = matrix[:, :NUM_CLASSES].sum(axis=0).astype(np.float64)
    union = area_label + area_pred - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        iou = inter / union
        acc = inter / area_label
        aacc = inter.sum() / area_label.sum() if area_label.sum() else float("nan")
    return {
        "mIoU": _pct(_nanmean(iou)),
        "aAcc": _pct(aacc),
        "mAcc": _pct(_nanmean(acc)),
        "per_class": {name: {"IoU": _pct(iou[i]), "Acc": _pct(acc[i])} for i, name in enumerate(CLASSES)},
        "invalid_prediction_pixels": int(matrix[:, INVALID_COL].sum()),
        "valid_pixels": int(area_label.sum()),
    }


def _nanmean(values: np.ndarray) -> float:
    finite = values[~np.isnan(values)]
    return float(finite.mean()) if finite.size else float("nan")


def _pct(value: float) -> float | None:
    """Percent as float; NaN becomes None so the JSON stays valid."""
    value = float(value)
    return None if math.isnan(value) else value * 100.0
