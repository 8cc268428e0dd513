"""The published table the kit reproduces, and what "Cityscapes val" means: written once.

The figures themselves are the model rows' `published` (semask.model.config, which names the two public
sources: the Ascend ModelZoo SeMask README and the upstream SeMask-FPN README); this module lists them and
says which row a run compares with.
"""
from __future__ import annotations

from dataclasses import dataclass

from semask.data.cityscapes import VAL_CITY_COUNTS, VAL_TOTAL  # noqa: F401 (re-exported: the official split)
from semask.model.config import MODEL_TABLE, MODELZOO, UPSTREAM, PublishedRow  # noqa: F401 (PublishedRow re-exported)
from semask.spec import NATIVE_HEIGHT, NATIVE_WIDTH

OFFICIAL_SPLIT = (f"Cityscapes val: {VAL_TOTAL} frames ("
                  + " / ".join(f"{c} {n}" for c, n in VAL_CITY_COUNTS.items())
                  + f") at {NATIVE_HEIGHT}x{NATIVE_WIDTH}, no LIMIT")
OFFICIAL_LABEL = "Cityscapes val"
PUBLISHED: tuple[PublishedRow, ...] = tuple(r for m in MODEL_TABLE for r in m.published)


@dataclass(frozen=True)
class RunFacts:
    """What a measured row is, for deciding whether a published row is its like."""

    model: str
    height: int
    width: int
    full_val: bool  # the whole official Cityscapes val split (500 frames, native size, no LIMIT)
    official_weights: bool
    precision: str
    batch_size: int
    chip: str = ""  # the chip that ran it (the only published fps are the 310P3's)


@dataclass(frozen=True)
class Reference:
    """The published rows shown beside a run, and whether a Δ means anything (`why_not`: what differs)."""

    miou_row: PublishedRow | None
    fps_row: PublishedRow | None
    miou_comparable: bool
    fps_comparable: bool
    why_not: str


def reference_for(facts: RunFacts) -> Reference:
    """The published rows for a run: upstream's fp32 mIoU for fp32 rows, the 310P3 OM's for atc precisions,
    the 310P3 fps at the same BS. A Δ is shown only against a like: the same model, input size, data set
    (the full Cityscapes val), weights (official) and precision (for fps also the chip); otherwise the
    published figures stand as reference and `why_not` says what differs."""
    npu = {r.batch_size: r for r in PUBLISHED if r.source == MODELZOO}
    upstream = next(r for r in PUBLISHED if r.source == UPSTREAM)
    fps_row = npu.get(facts.batch_size)
    miou_row = upstream if facts.precision == "fp32" else npu.get(facts.batch_size) or npu[1]
    differs = [what for what, same in (
        (f"model {facts.model}", facts.model == miou_row.model),
        (f"input {facts.height}x{facts.width}", (facts.height, facts.width) == (NATIVE_HEIGHT, NATIVE_WIDTH)),
        ("data set not the full Cityscapes val", facts.full_val),
        ("weights not official", facts.official_weights),
        (f"precision {facts.precision}", facts.precision == miou_row.precision)) if not same]
    fps_differs = list(differs)
    if fps_row is not None and facts.precision != fps_row.precision:
        fps_differs.append(f"precision {facts.precision}")
    if fps_row is not None and facts.chip != fps_row.chip:
        fps_differs.append(f"chip {facts.chip or '?'}")
    why = "; ".join(dict.fromkeys(differs + fps_differs))
    return Reference(miou_row, fps_row, not differs, not fps_differs and fps_row is not None and fps_row.fps is not None,
                     f"no Δ: {why} (the published rows are SeMask-S {NATIVE_HEIGHT}x{NATIVE_WIDTH}, official "
                     "weights, Cityscapes val)" if why else "")
