"""The published table the kit reproduces, and what "Cityscapes val" means: written once.

The figures themselves are the model rows' `published` (semask.model.config, which names the two public
sources: the Ascend ModelZoo SeMask README and the upstream SeMask-FPN README); this module lists them and
says which row a run compares with.
"""
from __future__ import annotations

from semask.data.cityscapes import VAL_CITY_COUNTS, VAL_TOTAL  # noqa: F401 (re-exported: the official split)
from semask.model.config import MODEL_TABLE, MODELZOO, UPSTREAM, PublishedRow  # noqa: F401 (PublishedRow re-exported)
from semask.spec import NATIVE_HEIGHT, NATIVE_WIDTH

OFFICIAL_SPLIT = (f"Cityscapes val: {VAL_TOTAL} frames ("
                  + " / ".join(f"{c} {n}" for c, n in VAL_CITY_COUNTS.items())
                  + f") at {NATIVE_HEIGHT}x{NATIVE_WIDTH}, no LIMIT")
OFFICIAL_LABEL = "Cityscapes val"
PUBLISHED: tuple[PublishedRow, ...] = tuple(r for m in MODEL_TABLE for r in m.published)


def reference_for(precision: str, batch_size: int) -> tuple[PublishedRow | None, PublishedRow | None]:
    """(row whose mIoU this run reproduces, row whose fps it reproduces).

    fp32 runs (ONNX Runtime) reproduce upstream's fp32 mIoU; an OM reproduces the 310P3 mIoU. The
    fps to compare with is always the 310P3 figure at the same BS (the only published fps).
    """
    npu = {r.batch_size: r for r in PUBLISHED if r.source == MODELZOO}
    upstream = next(r for r in PUBLISHED if r.source == UPSTREAM)
    fps_row = npu.get(batch_size)
    miou_row = upstream if precision == "fp32" else npu.get(batch_size) or npu[1]
    return miou_row, fps_row
