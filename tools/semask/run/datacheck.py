"""DATA_ROOT's layout, checked while make reads the Makefile: the resolved path and what is missing, at once.

Why: a DATA_ROOT without leftImg8bit/ or gtFine/ (or none at all) used to be found only at the labels step,
with a generic line and never the resolved path (`make -C kit DATA_ROOT=data/cs` resolves against the kit).
Only goals that read the data set are checked; with Cityscapes credentials set, prepare downloads it, so a
missing layout is not a mistake then. Standard library only (parse time).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping, Sequence

from semask.data.resize import rescaled_size

DATA_GOALS = frozenset({"all", "labels", "bins", "preds", "report", "reproduce"})
NEEDED = ("leftImg8bit/val", "gtFine/val")
CREDENTIALS = ("CITYSCAPES_USERNAME", "CITYSCAPES_PASSWORD")
DOWNLOAD_URL = "https://www.cityscapes-dataset.com/downloads/"  # as semask.data.cityscapes.DOWNLOAD_URL


def needs_data(goals: Sequence[str]) -> bool:
    return bool(DATA_GOALS & set(goals))


def layout_problem(data_root: str, goals: Sequence[str], environ: Mapping[str, str]) -> str | None:
    """The one-line refusal for a DATA_ROOT that cannot be read as Cityscapes val, or None."""
    if not needs_data(goals) or all(environ.get(c) for c in CREDENTIALS):
        return None
    resolved = os.path.realpath(data_root)
    fix = (f"unzip gtFine_trainvaltest.zip and leftImg8bit_trainvaltest.zip (from {DOWNLOAD_URL}) there, set "
           "DATA_ROOT to the folder that holds both, or set CITYSCAPES_USERNAME and CITYSCAPES_PASSWORD to download")
    if not Path(resolved).is_dir():
        return f"DATA_ROOT={data_root} (resolved: {resolved}) does not exist; {fix}"
    missing = [sub for sub in NEEDED if not (Path(resolved) / sub).is_dir()]
    if missing:
        return f"DATA_ROOT={data_root} (resolved: {resolved}) has no {' and no '.join(missing)}; {fix}"
    return None


def size_problem(native: str, height: int, width: int) -> str | None:
    """The one-line refusal for a HEIGHT/WIDTH the frames cannot be resized to (keep-ratio, as preprocess does)."""
    h, w = (int(x) for x in native.split("x"))
    if (h, w) == (height, width):
        return None
    nh, nw = rescaled_size(h, w, height, width)
    if (nh, nw) == (height, width):
        return None
    return (f"HEIGHT={height} WIDTH={width} cannot be made from the data set's {h}x{w} frames: upstream's keep-ratio "
            f"resize gives {nh}x{nw}; nothing was exported: choose HEIGHT and WIDTH in the frames' aspect ratio "
            f"({h}:{w}), or frames of this aspect ratio")
