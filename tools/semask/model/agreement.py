"""How far a candidate's segmentation output is from a reference's: logit differences and label flips.

Pure numpy (the unit tests exercise it on synthetic arrays); the crosscheck uses it with upstream
SeMask-FPN as the reference and the kit's model (or its ONNX) as the candidate.

Figures (over all images):
- max_abs_diff: max |logit_candidate - logit_reference| (None for a labels-only candidate);
- label_agreement: share of pixels whose argmax agrees;
- disagree_margin_share: among disagreeing pixels, the share whose reference top-1 minus top-2
  margin is > MARGIN (those are real disagreements, not ties).
A comparison fails when max_abs_diff > ATOL or any disagreeing pixel has margin > MARGIN.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from semask.core.errors import KitError
from semask.spec import ATOL, MARGIN  # the kit's one pair of tolerances (re-exported)

ROWS_PER_CHUNK = 64


def top2_margin(logits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(argmax, top-1 minus top-2) over the class axis 0 of (K, ...) logits."""
    if logits.shape[0] < 2:
        raise ValueError("need at least 2 classes for a top-2 margin")
    part = np.partition(logits, -2, axis=0)
    return np.argmax(logits, axis=0), (part[-1] - part[-2])


@dataclass
class Agreement:
    """Running comparison of one candidate against the reference, over many images."""

    atol: float = ATOL
    margin: float = MARGIN
    pixels: int = 0
    same_label: int = 0
    disagree: int = 0
    disagree_over_margin: int = 0
    max_abs_diff: float | None = None  # None when the candidate gives labels only
    max_abs_ref: float = 0.0
    images: int = 0
    per_image: list = field(default_factory=list)

    def add(self, ref_logits: np.ndarray, cand: np.ndarray) -> dict:
        """Compare one image: ref (K,H,W) float logits vs cand (K,H,W) logits or (H,W) int labels."""
        ref_logits = np.asarray(ref_logits)
        cand = np.asarray(cand)
        labels_only = cand.ndim == ref_logits.ndim - 1
        expect = ref_logits.shape[1:] if labels_only else ref_logits.shape
        if cand.shape != expect:
            raise KitError(f"candidate output shape {cand.shape} does not match the reference {expect}")
        if not np.isfinite(ref_logits).all():
            raise KitError("the reference (upstream) logits contain NaN/Inf")
        stats = {"pixels": 0, "same_label": 0, "disagree": 0, "disagree_over_margin": 0, "max_abs_diff": None,
                 "max_margin_of_disagreement": 0.0}
        h = ref_logits.shape[1]
        for r0 in range(0, h, ROWS_PER_CHUNK):
            ref = ref_logits[:, r0:r0 + ROWS_PER_CHUNK].astype(np.float32, copy=False)
            ref_lab, ref_margin = top2_margin(ref)
            if labels_only:
                lab = cand[r0:r0 + ROWS_PER_CHUNK].astype(np.int64, copy=False)
            else:
                c = cand[:, r0:r0 + ROWS_PER_CHUNK].astype(np.float32, copy=False)
                diff = np.abs(c - ref)
                # NaN in the candidate must fail, never compare as "small".
                d = float(np.max(diff)) if np.isfinite(diff).all() else float("inf")
                stats["max_abs_diff"] = d if stats["max_abs_diff"] is None else max(stats["max_abs_diff"], d)
                lab = np.argmax(c, axis=0)
            wrong = lab != ref_lab
            n_wrong = int(wrong.sum())
            stats["pixels"] += int(ref_lab.size)
            stats["same_label"] += int(ref_lab.size) - n_wrong
            stats["disagree"] += n_wrong
            if n_wrong:
                m = ref_margin[wrong]
                stats["disagree_over_margin"] += int((m > self.margin).sum())
                stats["max_margin_of_disagreement"] = max(stats["max_margin_of_disagreement"], float(m.max()))
            self.max_abs_ref = max(self.max_abs_ref, float(np.abs(ref).max()))
        self.images += 1
        self.pixels += stats["pixels"]
        self.same_label += stats["same_label"]
        self.disagree += stats["disagree"]
        self.disagree_over_margin += stats["disagree_over_margin"]
        if stats["max_abs_diff"] is not None:
            self.max_abs_diff = stats["max_abs_diff"] if self.max_abs_diff is None else max(
                self.max_abs_diff, stats["max_abs_diff"])
        stats["label_agreement"] = stats["same_label"] / stats["pixels"] if stats["pixels"] else 1.0
        self.per_image.append(stats)
        return stats

    @property
    def label_agreement(self) -> float:
        return self.same_label / self.pixels if self.pixels else 1.0

    @property
    def disagree_margin_share(self) -> float:
        return self.disagree_over_margin / self.disagree if self.disagree else 0.0

    def failures(self) -> list[str]:
        out = []
        if self.max_abs_diff is not None and not self.max_abs_diff <= self.atol:
            out.append(f"max abs logit difference {self.max_abs_diff:.3g} > {self.atol:g}")
        if self.disagree_over_margin:
            out.append(f"{self.disagree_over_margin} pixel(s) change label although the upstream top-2 margin "
                       f"is > {self.margin:g}")
        return out

    @property
    def passed(self) -> bool:
        return self.images > 0 and not self.failures()

    def summary(self) -> dict:
        return {
            "images": self.images, "pixels": self.pixels, "max_abs_diff": self.max_abs_diff,
            "max_abs_reference_logit": self.max_abs_ref, "label_agreement": self.label_agreement,
            "disagreeing_pixels": self.disagree, "disagree_margin_share": self.disagree_margin_share,
            "disagree_over_margin": self.disagree_over_margin, "atol": self.atol, "margin": self.margin,
            "passed": self.passed, "failures": self.failures(), "per_image": self.per_image,
        }
