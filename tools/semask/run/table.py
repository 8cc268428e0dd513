"""The results tables: one run (`make all`, `make perf`, `make table`), all runs (`make tables`).

Every row says what its numbers belong to (model, input size, weights, dataset, backend/provider,
chip, precision, BS) and gives both rates: fps as the tool defines it and real images per second.
The published reference rows follow in the same columns. `reports/latest` under ARTIFACTS names the
last run, so `make table` reprints it whatever the current variables are.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Dict, List, Optional

from semask.core import ledger
from semask.core.errors import KitError
from semask.core.progress import duration
from semask.evaluate import describe as d
from semask.evaluate.published import OFFICIAL_SPLIT, PUBLISHED, PublishedRow
from semask.backends.ascend.atc_report import provenance_warning
from semask.spec import official_weights
from semask.run.plan import LATEST, PERF_DIR, REPORTS_DIR, REPRODUCE_JSON, result_kind

COLUMNS = ["model", "input", "weights", "dataset", "backend/provider", "chip", "precision", "BS", "mIoU",
           d.FPS_HEADER, d.REAL_HEADER, "run"]


def _read(path: Optional[Path], what: str) -> Optional[Dict[str, Any]]:
    if path is None:
        return None
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise KitError(f"{what} {path} is not readable JSON ({exc}); rerun the step that writes it") from None


def device_name(prov: Dict[str, Any]) -> str:
    return d.chip_label(prov)


def _row(cells: List[str]) -> str:
    return "| " + " | ".join(c.replace("|", "/") for c in cells) + " |"


def header_rows(columns: List[str] = COLUMNS) -> List[str]:
    return [_row(columns), _row(["---"] * len(columns))]


def published_cells(row: PublishedRow) -> List[str]:
    """A published row in COLUMNS."""
    miou = row.failure or d.fmt(row.miou)
    fps = row.failure or d.fmt(row.fps)
    return [f"{d.MODEL_NAMES[row.model]} ({row.model})", "1024x2048", f"{Path(official_weights(row.model)).name} (official)",
            "Cityscapes val (500)", row.backend, row.chip, row.precision, str(row.batch_size), miou, fps, "-",
            f"published: {row.source}"]


def sqnr_note(*records: Optional[Dict[str, Any]]) -> str:
    """' (logit SQNR 34.03 dB vs fp32)' from a perf result or inference summary that measured it, else ''."""
    for record in records:
        sqnr = (record or {}).get("logit_sqnr")
        if sqnr:
            value = sqnr.get("sqnr_db")
            return f" (logit SQNR {'NaN' if value is None else value} dB vs fp32)"
    return ""


def run_row(report: Optional[Dict[str, Any]], summary: Optional[Dict[str, Any]], perf: Optional[Dict[str, Any]],
            prov: Dict[str, Any], where: str) -> Dict[str, Any]:
    """The facts and cells of one measured run (a score report, a perf result, or both)."""
    variables = prov.get("variables") or {}
    miou = report.get("mIoU") if report else None
    if perf is not None:
        fps, real = perf.get("throughput"), d.perf_real_images_per_s(perf)
    else:
        fps, real = (summary or {}).get("throughput"), d.real_images_per_s(summary)
    dataset = d.report_dataset_label(report) if report else "- (no data: perf loop)"
    bs = variables.get("BS") or (perf or {}).get("batch_size") or "?"
    identity = d.model_identity(report, summary, perf)
    cells = [d.model_label(variables), d.input_label(variables), d.weights_label(prov, identity), dataset,
             d.backend_label(prov),
             d.chip_label(prov), d.precision_label(prov) + sqnr_note(perf, summary), str(bs), d.fmt(miou), d.fmt(fps),
             d.fmt(real), where]
    return {"cells": cells, "mIoU": miou, "fps": fps, "real_images_per_s": real, "dataset": dataset,
            "weights_random": d.weights_label(prov, identity).startswith(d.UNTRAINED),
            "synthetic": dataset.startswith("synthetic"),
            "placement_warning": provenance_warning(prov), "warnings": list((report or {}).get("warnings") or [])}


def banners(rows: List[Dict[str, Any]], smoke: bool = False) -> List[str]:
    """Warnings that must be read before the numbers. The smoke banner comes from the run's facts (a
    synthetic data set, untrained weights), never from SMOKE alone: `smoke` is kept for old callers only."""
    lines = [r["placement_warning"] for r in rows if r.get("placement_warning")]  # AI CPU fallback of the .om
    lines += [f"WARNING: {w}" for r in rows for w in r.get("warnings", [])]  # e.g. degenerate predictions
    random = any(r["weights_random"] for r in rows)
    synthetic = any(r["synthetic"] for r in rows)
    if random and synthetic:
        lines.append("SMOKE RUN: synthetic images and untrained weights (random, or the kit's fixed test weights); "
                     "the mIoU below means nothing, it only shows the pipeline works.")
    elif random:
        lines.append("WARNING: untrained weights (random, or the kit's fixed test weights), not a trained model" +
                     (": the mIoU is meaningless." if any(r["mIoU"] is not None for r in rows) else "."))
    elif synthetic:
        lines.append("SYNTHETIC DATA: the frames come from the kit's generator, not Cityscapes; the mIoU is a smoke test.")
    return lines


def check_run_weights(report_path: Optional[Path], perf_path: Optional[Path], identity: Optional[Dict[str, Any]],
                      weights: str) -> None:
    """Refuse to table numbers whose model (its sidecar's weights, recorded at inference/perf) is not
    this run's WEIGHTS; records older than the model identity cannot be checked and are let through."""
    from semask.backends.model_check import check_weights

    if not identity or not (identity.get("weights") or identity.get("weights_sha256")):
        return
    what = f"the numbers in {report_path or perf_path} (model {identity.get('path')})"
    check_weights(what, (identity.get("weights"), identity.get("weights_sha256")), weights,
                  f"{Path(str(identity.get('sidecar') or '?')).name}, recorded when the model ran",
                  "delete that model file (or run `make clean`) and `make all` rebuilds it and redoes these numbers")


def render(report_path: Optional[Path] = None, summary_path: Optional[Path] = None, perf_path: Optional[Path] = None,
           provenance_path: Optional[Path] = None, smoke: bool = False, weights: Optional[str] = None) -> str:
    """Markdown table: the measured row first, then the published reference rows, then the footnotes.

    `weights` (the run's WEIGHTS, from make): the model that made the numbers must have been made from them.
    """
    for path, what in ((report_path, "score report"), (perf_path, "perf result")):
        if path is not None:
            ledger.check_result(Path(path), what)
    report = _read(report_path, "score report")
    summary = _read(summary_path, "inference summary")
    if report is not None and summary is None:
        summary = d.read_json((report.get("predictions") or {}).get("summary"))
    perf = _read(perf_path, "perf result")
    if weights is not None:
        check_run_weights(report_path, perf_path, d.model_identity(report, summary, perf), weights)
    prov = (report or {}).get("provenance") or _read(provenance_path, "provenance") or {}
    row = run_row(report, summary, perf, prov, str(report_path or perf_path or "-"))
    lines = banners([row], smoke) + header_rows() + [_row(row["cells"])]
    lines += [_row(published_cells(p)) for p in PUBLISHED]
    return "\n".join(lines + ["", *d.FOOTNOTES]) + "\n"


# ------------------------------------------------------------------------------ runs under ARTIFACTS
def resolve_run(artifacts: Path, run: Optional[str]) -> Path:
    """The JSON of RUN (a name or a path), or of the last run when RUN is empty."""
    artifacts = Path(artifacts)
    if not run:
        pointer = artifacts / LATEST
        if not pointer.is_file():
            raise KitError(f"no run recorded under ARTIFACTS={artifacts} ({pointer} is missing); run `make all`, "
                           "`make perf` or `make reproduce` first, or pick one with `make table RUN=<name>` "
                           "(`make tables` lists them)")
        target = artifacts / pointer.read_text().strip()
        if not target.is_file():
            raise KitError(f"the last run ({target}, named by {pointer}) has no result: it did not finish; rerun it, "
                           "or pick another with `make table RUN=<name>` (`make tables` lists them)")
        return target
    candidates = [Path(run), artifacts / run, artifacts / REPORTS_DIR / f"{run}.json",
                  artifacts / REPORTS_DIR / run / REPRODUCE_JSON, artifacts / PERF_DIR / f"{run}.json"]
    for path in candidates:
        if path.is_file() and path.suffix == ".json":
            return path
    raise KitError(f"RUN={run} matches no run under ARTIFACTS={artifacts}; `make tables` lists the runs there")


def render_run(path: Path) -> str:
    """The table of one run's JSON, whatever kind of run it was."""
    kind = result_kind(path) or "report"
    ledger.check_result(path, f"{kind} result")
    if kind == "reproduce":
        return render_reproduce(_read(path, "reproduce result") or {})
    if kind == "perf":
        return render(perf_path=path, provenance_path=path.with_name(path.stem + ".provenance.json"))
    return render(report_path=path)


def list_runs(artifacts: Path) -> List[Path]:
    """Every run JSON under ARTIFACTS (score reports, perf results, reproduce sweeps), oldest first."""
    artifacts = Path(artifacts)
    found = []
    for path in artifacts.rglob("*.json"):
        if result_kind(path):
            found.append(path)
    return sorted(found, key=lambda p: p.stat().st_mtime)


def render_all(artifacts: Path) -> str:
    """`make tables`: one row per single run (reproduce sweeps are listed by name; `make table RUN=` shows them)."""
    runs = list_runs(artifacts)
    if not runs:
        raise KitError(f"no runs under ARTIFACTS={artifacts}; run `make all`, `make perf` or `make reproduce` first")
    rows, sweeps = [], []
    for path in runs:
        kind = result_kind(path)
        if kind == "reproduce":
            sweeps.append(path)
            continue
        ledger.check_result(path, f"{kind} result")
        data = _read(path, f"{kind} result") or {}
        if kind == "perf":
            prov = _read(path.with_name(path.stem + ".provenance.json"), "provenance") or {}
            rows.append(run_row(None, None, data, prov, str(path)))
        elif "mIoU" in data:
            rows.append(run_row(data, d.read_json((data.get("predictions") or {}).get("summary")), None,
                                data.get("provenance") or {}, str(path)))
    lines = header_rows() + [_row(r["cells"]) for r in rows]
    if sweeps:
        lines += ["", "`make reproduce` sweeps (`make table RUN=<name>` prints one):"]
        lines += [f"- {p.parent.name} ({p.parent})" for p in sweeps]
    return "\n".join(lines + ["", *d.FOOTNOTES]) + "\n"


# ------------------------------------------------------------------------------ make reproduce
def _delta(row: Dict[str, Any], pub: Dict[str, Any], key: str) -> str:
    """Δ against the published figure, only where the published row is the run's like (older sweeps
    recorded no verdict: their Δ is not shown either)."""
    if not pub.get(f"{key}_comparable"):
        return "-"
    return d.delta(row.get(key), pub.get(key))


REPRO_COLUMNS = ["model", "input", "weights", "dataset", "backend/provider", "chip", "precision", "BS", "mIoU",
                 "published mIoU", "Δ mIoU", d.FPS_HEADER, "published fps (310P3)", "Δ fps", d.REAL_HEADER, "note"]


def render_reproduce(result: Dict[str, Any], base: Optional[Path] = None) -> str:
    """The Markdown report of a sweep (also what `make table RUN=<reproduce name>` prints)."""
    rows = result.get("rows", [])
    lines = [f"# make reproduce: {result.get('name', '')}", ""]
    random = any((r.get("labels") or {}).get("weights", "").startswith(d.UNTRAINED) for r in rows)
    synthetic = any((r.get("labels") or {}).get("dataset", "").startswith("synthetic") for r in rows)
    if random and synthetic:
        lines += ["SMOKE RUN: synthetic images and random weights; the mIoU means nothing, it only shows the pipeline "
                  "works. The fps are real measurements of this model on this machine.", ""]
    elif random:
        lines += ["WARNING: WEIGHTS=random, not a trained model: the mIoU is meaningless.", ""]
    elif synthetic:
        lines += ["SYNTHETIC DATA: the frames come from the kit's generator, not Cityscapes.", ""]
    lines += [f"{result.get('images')} images; mIoU " + ("at every BS" if result.get("accuracy_each_bs") else
              "once per precision at the first BS that succeeds (other rows show it with 'at bsN')")
              + f"; took {duration(result.get('seconds', 0))}.", ""]
    lines += [_row(REPRO_COLUMNS), _row(["---"] * len(REPRO_COLUMNS))]
    for r in rows:
        lab = r.get("labels") or {}
        pub = r.get("published") or {}
        if r.get("status") != "ok":
            miou, fps, note = "-", "-", f"**{r.get('reason') or 'failed'}**"
        else:
            miou = d.fmt(r.get("mIoU"))
            if r.get("mIoU_from_bs") and r.get("mIoU_from_bs") != r["bs"]:
                miou += f" (at bs{r['mIoU_from_bs']})"
            fps = d.fmt(r.get("fps"))
            note = f"LOOP={r.get('loop')}" if r.get("loop") else ""
            if r.get("label_agreement_vs_fp32") is not None:
                note += f"{'; ' if note else ''}labels = fp32 row's: {100 * r['label_agreement_vs_fp32']:.4g} %"
            if r.get("logit_sqnr_db") is not None:
                note += f"{'; ' if note else ''}logit SQNR vs fp32: {r['logit_sqnr_db']} dB"
            if pub.get("why_not"):
                note += f"{'; ' if note else ''}{pub['why_not']}"
        pub_fps = pub.get("fps_failure") or d.fmt(pub.get("fps"))
        lines.append(_row([lab.get("model", "?"), lab.get("input", "?"), lab.get("weights", "?"), lab.get("dataset", "?"),
                           lab.get("backend", "?"), lab.get("chip", "?"), lab.get("precision", r["precision"]),
                           str(r["bs"]), miou, d.fmt(pub.get("mIoU")), _delta(r, pub, "mIoU"),
                           fps, pub_fps, _delta(r, pub, "fps"),
                           d.fmt(r.get("real_images_per_s")), note]))
    lines += ["", *d.FOOTNOTES,
              "Published mIoU: upstream's fp32 figure for fp32 rows, the 310P3 OM figure for atc precisions. "
              f"\"Cityscapes val\" means the whole official split ({result.get('official_split', OFFICIAL_SPLIT)}).", ""]
    lines += ["Published table:", "", _row(COLUMNS), _row(["---"] * len(COLUMNS))]
    lines += [_row(published_cells(p)) for p in PUBLISHED]
    if result.get("first_panel"):
        panel = Path(result["first_panel"])
        rel = os.path.relpath(panel, base) if base else str(panel)
        lines += ["", f"First panel ({panel.stem}):", "", f"![{panel.stem}]({rel})"]
    lines += ["", "Per-row records (each with full provenance):", ""]
    for r in rows:
        for key in ("report", "perf"):
            if r.get(key):
                lines.append(f"- bs{r['bs']} {r['precision']} {key}: {r[key]}")
    return "\n".join(lines) + "\n"
