"""The results table `make all` and `make perf` end with, beside the published reference figures."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, List, Optional

from semask.core.errors import KitError

PUBLISHED = [
    ("Ascend310P3 (ModelZoo kit, force_fp16)", "ascend", 1, "Cityscapes val (500)", 76.54, 4.72),
    ("Ascend310P3 (ModelZoo kit, force_fp16)", "ascend", 4, "Cityscapes val (500)", 76.54, 4.37),
    ("Ascend310P3 (ModelZoo kit, force_fp16)", "ascend", 8, "Cityscapes val (500)", 76.54, 4.13),
    ("GPU (upstream SeMask-S, fp32)", "pytorch", 1, "Cityscapes val (500)", 77.13, None),
]


def _read(path: Optional[Path], what: str) -> Optional[Dict[str, Any]]:
    if path is None:
        return None
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise KitError(f"{what} {path} is not readable JSON ({exc}); rerun the step that writes it") from None


def device_name(prov: Dict[str, Any]) -> str:
    variables = prov.get("variables", {})
    if prov.get("backend") == "ascend":
        return variables.get("SOC") or "Ascend"
    provider = prov.get("provider") or "cpu"
    cpu = prov.get("host", {}).get("cpu", "CPU")
    return f"{cpu} ({provider}, {prov.get('host', {}).get('cores', '?')} cores)" if provider == "cpu" else provider


def _row(cells: List[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def render(report_path: Optional[Path] = None, summary_path: Optional[Path] = None, perf_path: Optional[Path] = None,
           provenance_path: Optional[Path] = None, smoke: bool = False) -> str:
    """Markdown table: measured row(s) first, then the published reference rows."""
    report = _read(report_path, "score report")
    summary = _read(summary_path, "inference summary")
    perf = _read(perf_path, "perf result")
    prov = (report or {}).get("provenance") or _read(provenance_path, "provenance") or {}
    variables = prov.get("variables", {})
    fps = None
    if perf is not None:
        fps = perf.get("throughput")
    elif summary is not None:
        fps = summary.get("throughput")
    miou = f"{report['mIoU']:.2f}" if report else "-"
    dataset = "-"
    if report:
        n = report["num_images"]
        dataset = "Cityscapes val (500)" if n == 500 else f"Cityscapes val subset ({n} images)"
    if smoke and report:
        dataset = f"SYNTHETIC ({report['num_images']} images)"
        miou += " (meaningless)"
    backend = prov.get("backend", "?")
    if prov.get("provider"):
        backend += f"/{prov['provider']}"
    lines = [
        _row(["chip / device", "backend", "BS", "dataset", "mIoU", "fps", "report"]),
        _row(["---"] * 7),
        _row([device_name(prov), backend, str(variables.get("BS", "?")), dataset, miou,
              f"{fps:.2f}" if isinstance(fps, (int, float)) else "-", str(report_path or perf_path or "-")]),
    ]
    for name, be, bs, ds, m, f in PUBLISHED:
        lines.append(_row([f"published: {name}", be, str(bs), ds, f"{m:.2f}", f"{f:.2f}" if f else "-", "-"]))
    header = []
    if smoke:
        header.append("SMOKE RUN: synthetic images and random weights; the mIoU below means nothing, it only shows the pipeline works.")
    header += [f"WARNING: {w}" for w in (report or {}).get("warnings", [])]
    if prov.get("variables", {}).get("WEIGHTS") == "random" and not smoke:
        header.append("WARNING: WEIGHTS=random, not a trained model" + (": the mIoU is meaningless." if report else "."))
    return "\n".join(header + lines) + "\n"
