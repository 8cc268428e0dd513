"""How far an Ascend run's labels are from the ORT fp32 labels of the same frames (issue 25 §6).

Why: the guide lost 0.59 mIoU to fp16 (77.13 -> 76.54); an mIoU gap alone mixes the fp16 loss with any pipeline
difference. The share of pixels whose label equals the fp32 run's separates the two: it is the fp16 (and atc) part.
The ORT fp32 run of the same frames is the one `make all BACKEND=ort` writes beside it; without it the report says
how to get it.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from semask.core.fsio import atomic_write_text
from semask.evaluate.predictions import label_agreement


def add_to_report(report: Path, pred: Path, reference: Path, label_dtype: str) -> tuple[dict[str, Any], str]:
    """Write `label_agreement_vs_ort_fp32` into `report` (None with the reason when there is no reference run);
    return the record and the line for the console."""
    data = json.loads(report.read_text(encoding="utf-8"))
    if reference.is_file():
        found = label_agreement(pred, reference, label_dtype)
        record = {"reference": str(reference), **found}
        line = (f"labels = ORT fp32 labels of the same frames: {100 * found['agreement']:.4f} % of "
                f"{found['pixels']} pixels ({found['images']} images)")
    else:
        run = reference.name[:-len("_summary.json")]
        record = {"reference": str(reference), "agreement": None,
                  "reason": f"no ORT fp32 run {run} of these frames; `make all BACKEND=ort` with the same variables "
                            "makes it, and the next `make all` here reports the agreement"}
        line = f"note: label agreement with ORT fp32 not reported: {record['reason']}"
    data["label_agreement_vs_ort_fp32"] = record
    atomic_write_text(report, json.dumps(data, indent=2) + "\n")
    return record, line
