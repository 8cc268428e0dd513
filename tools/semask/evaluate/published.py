"""The published table the kit reproduces, and what "Cityscapes val" means: written once.

Sources (see /work/shared/research/anchors.md): the Ascend ModelZoo SeMask README (310P3, OM,
force_fp16, ais_bench `--loop 100`: mIoU 76.54 at bs 1/4/8, 4.72 / 4.37 / 4.13 fps, bs16 out of
memory) and the upstream SeMask-FPN README (SeMask-S, PyTorch fp32, single scale: 77.13 mIoU).
"""
from __future__ import annotations

from dataclasses import dataclass

from semask.data.cityscapes import VAL_CITY_COUNTS, VAL_TOTAL  # noqa: F401 (re-exported: the official split)
from semask.spec import NATIVE_HEIGHT, NATIVE_WIDTH

OFFICIAL_SPLIT = (f"Cityscapes val: {VAL_TOTAL} frames ("
                  + " / ".join(f"{c} {n}" for c, n in VAL_CITY_COUNTS.items())
                  + f") at {NATIVE_HEIGHT}x{NATIVE_WIDTH}, no LIMIT")
OFFICIAL_LABEL = "Cityscapes val"


@dataclass(frozen=True)
class PublishedRow:
    """One row of the published table; `failure` instead of figures when it did not run."""

    source: str
    model: str
    backend: str
    chip: str
    precision: str
    batch_size: int
    miou: float | None
    fps: float | None
    failure: str | None = None


MODELZOO = "Ascend ModelZoo SeMask README"
UPSTREAM = "upstream SeMask-FPN README"
PUBLISHED: tuple[PublishedRow, ...] = (
    PublishedRow(MODELZOO, "small", "ascend/ais_bench", "Ascend310P3", "force_fp16", 1, 76.54, 4.72),
    PublishedRow(MODELZOO, "small", "ascend/ais_bench", "Ascend310P3", "force_fp16", 4, 76.54, 4.37),
    PublishedRow(MODELZOO, "small", "ascend/ais_bench", "Ascend310P3", "force_fp16", 8, 76.54, 4.13),
    PublishedRow(MODELZOO, "small", "ascend/ais_bench", "Ascend310P3", "force_fp16", 16, None, None,
                 failure="out of memory (内存不足)"),
    PublishedRow(UPSTREAM, "small", "pytorch (upstream)", "GPU", "fp32", 1, 77.13, None),
)


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
