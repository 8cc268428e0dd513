"""Signal-to-quantisation-noise ratio of a candidate's logits against a reference's, in dB.

Why: label agreement on random weights says little (their top-2 margins are tiny, so any noise flips
labels); SQNR = 10*log10(sum ref^2 / sum (ref - x)^2) over the same frames' logits is the standard
measure of quantisation noise and does not depend on the margins. Sums are float64. Identical logits
give +inf; a NaN or Inf anywhere gives NaN, which fails every floor (`meets_floor`), never passes.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


def _sums(ref: np.ndarray, x: np.ndarray) -> tuple[float, float]:
    ref = np.asarray(ref)
    x = np.asarray(x)
    if ref.shape != x.shape:
        raise ValueError(f"SQNR needs arrays of one shape, got {ref.shape} and {x.shape}")
    r = ref.astype(np.float64, copy=False).ravel()
    d = r - x.astype(np.float64, copy=False).ravel()
    return float(np.dot(r, r)), float(np.dot(d, d))


def _db(signal: float, noise: float) -> float:
    if not (math.isfinite(signal) and math.isfinite(noise)):
        return math.nan
    if noise == 0.0:
        return math.inf if signal > 0.0 else math.nan
    if signal == 0.0:
        return -math.inf
    return 10.0 * math.log10(signal / noise)


def sqnr_db(ref: np.ndarray, x: np.ndarray) -> float:
    """10*log10(sum ref^2 / sum (ref - x)^2) in float64: inf when identical, nan when anything is not finite."""
    return _db(*_sums(ref, x))


def meets_floor(value: float | None, floor: float) -> bool:
    """Whether an SQNR reaches a floor; None (not measured) and NaN never do."""
    return value is not None and not math.isnan(value) and value >= floor


@dataclass
class SqnrSum:
    """SQNR over many frames: the sums accumulate, so it equals sqnr_db of the concatenated logits."""

    signal: float = 0.0
    noise: float = 0.0
    frames: int = 0

    def add(self, ref: np.ndarray, x: np.ndarray) -> float:
        """Add one frame (or batch); returns that frame's own SQNR."""
        s, n = _sums(ref, x)
        self.signal += s
        self.noise += n
        self.frames += 1
        return _db(s, n)

    @property
    def db(self) -> float:
        return _db(self.signal, self.noise) if self.frames else math.nan


def as_json(value: float) -> float | str | None:
    """A JSON-safe SQNR: rounded, 'inf' for identical logits, None for NaN."""
    if math.isnan(value):
        return None
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return round(value, 2)
