"""Upstream's keep-ratio resize arithmetic, apart from the pixels: standard library only.

Why its own module: the run's plan (parse time, no numpy or cv2) refuses a HEIGHT/WIDTH that the frames
cannot be resized to before the export, with the same rule preprocess applies (semask.data.bins.fit).
"""
from __future__ import annotations


def rescaled_size(height: int, width: int, target_h: int, target_w: int) -> tuple[int, int]:
    """mmcv.rescale_size((w, h), (W, H)): largest keep-ratio size inside the scale, rounded half up."""
    long_edge, short_edge = max(target_h, target_w), min(target_h, target_w)
    scale = min(long_edge / max(height, width), short_edge / min(height, width))
    return int(height * float(scale) + 0.5), int(width * float(scale) + 0.5)
