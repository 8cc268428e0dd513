"""Upstream's input normalisation, written once as a (3, 256) float32 table.

Why a table: upstream's test pipeline normalises with mmseg's `Normalize`, which stores mean and
std as float32 (`np.array(mean, dtype=np.float32)`), and mmcv 1.3.0's `imnormalize_`, which then
works from those float32 values in float64: float32 image, `mean = np.float64(mean)`,
`stdinv = 1 / np.float64(std)`, cv2 BGR2RGB, `cv2.subtract(img, mean, img)`,
`cv2.multiply(img, stdinv, img)`. Every output value therefore depends only on the channel and the
uint8 input value, so running exactly those calls on the 256 values of each channel gives a table
that reproduces upstream for every image. The float32 bins apply it with cv2.LUT and the uint8
graph gathers from it (semask.model.network.input_normalizer), so the two paths cannot drift.

Building mean and 1/std from the float64 decimals instead (what the kit did before) changes 23 R
and 61 G table entries by one float32 step; B's std 57.375 is exact in float32.
"""
from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np

from semask.spec import MEAN_RGB, STD_RGB

# mmseg's Normalize.__init__: np.array(mean, dtype=np.float32), np.array(std, dtype=np.float32)
UPSTREAM_MEAN = np.array(MEAN_RGB, dtype=np.float32)
UPSTREAM_STD = np.array(STD_RGB, dtype=np.float32)
UPSTREAM_MEAN.setflags(write=False)
UPSTREAM_STD.setflags(write=False)


def mmcv_imnormalize(bgr: np.ndarray, mean: np.ndarray = UPSTREAM_MEAN, std: np.ndarray = UPSTREAM_STD) -> np.ndarray:
    """mmcv.imnormalize(img, mean, std, to_rgb=True) as its exact sequence of cv2 calls (HWC float32 RGB)."""
    img = bgr.copy().astype(np.float32)
    mean64 = np.float64(np.asarray(mean).reshape(1, -1))
    stdinv = 1 / np.float64(np.asarray(std).reshape(1, -1))
    cv2.cvtColor(img, cv2.COLOR_BGR2RGB, img)
    cv2.subtract(img, mean64, img)
    cv2.multiply(img, stdinv, img)
    return img


@lru_cache(maxsize=1)
def normalise_table() -> np.ndarray:
    """(3, 256) float32, read-only: upstream's normalised value of every uint8 input per RGB channel."""
    ramp = np.repeat(np.arange(256, dtype=np.uint8)[None, :, None], 3, axis=2)  # 1 x 256 x 3, same in B,G,R
    table = np.ascontiguousarray(mmcv_imnormalize(ramp)[0].T)
    table.setflags(write=False)
    return table
