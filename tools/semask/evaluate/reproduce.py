"""`make reproduce`: the published table, every row, in one command.

Why: the published result is a table (mIoU at bs 1/4/8, fps per BS, bs16 out of memory), and one
`make all` gives one row. This sweeps BS_LIST x PRECISIONS by running make's own file targets
(`make <report>` once per precision at the first BS that succeeds, `make <perf json>` for every
row), so every artifact already built is reused and nothing is computed a second way. A row that
fails for a known reason (device or host out of memory, atc refusing the graph) becomes a row that
says so and the sweep goes on, as in the published bs16 line. The result is one Markdown table
beside the published figures, with deltas, and a JSON with provenance.
"""
from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from semask.core.errors import KitError
from semask.core.fsio import atomic_write_json, atomic_write_text, ensure_writable_dir
from semask.core.progress import LOOP_FLOOR, duration
from semask.evaluate import describe as d
from semask.evaluate.published import OFFICIAL_SPLIT, PUBLISHED, reference_for

ORT_PRECISION = "fp32"  # the precision axis of ONNX Runtime: the provider's fp32, nothing to sweep
PRECISION_BACKENDS = ("ascend", "openvino")  # backends whose PRECISIONS are swept (atc modes; OpenVINO fp32/bf16)
CPU_BACKENDS = ("ort", "openvino")  # host-memory guard and time estimate

# ---------------------------------------------------------------- known failures
_OOM = re.compile(r"207001|ACL_ERROR_RT_MEMORY_ALLOCATION|out of (device |host )?memory|Failed to allocate memory|"
                  r"bad_alloc|MemoryError|Cannot allocate memory|内存不足", re.I)
_ATC = re.compile(r"atc failed for")
_ECODE = re.compile(r"\bE[0-9]{5}\b.*")


def classify(output: str, code: int) -> tuple[bool, str]:
    """(known, one-line reason) of a failed sub-make, from its output and exit code."""
    lines = output.splitlines()
    for line in lines:
        if _OOM.search(line):
            return True, "out of memory: " + _short(line)
    if code in (137, -9) or any(re.search(r"\bKilled\b", ln) for ln in lines):
        return True, "out of memory: killed by SIGKILL (the kernel's OOM killer?)"
    if any(_ATC.search(ln) for ln in lines):
        ecode = next((m.group(0) for ln in lines for m in [_ECODE.search(ln)] if m), None)
        return True, "atc refused the graph: " + _short(ecode or next(ln for ln in lines if _ATC.search(ln)))
    errors = [ln for ln in lines if ln.startswith("error:")] or [ln for ln in lines if "Error" in ln]
    return False, "failed: " + _short(errors[-1] if errors else (lines[-1] if lines else f"exit {code}"))


def _short(text: str, limit: int = 160) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


# ---------------------------------------------------------------- CPU estimate and guards
# Measured on this kit's 2-core x86 VM: SeMask-S at 1024x2048 on ORT CPU, ~6.2 s per image (README).
# Other models scale by their FLOPs (rough), every model by pixels and cores. A rough guide, no promise.
CPU_SECONDS_PER_IMAGE = {"tiny": 3.5, "small": 6.2, "base": 10.5, "large": 20.0, "reduced": 0.05}
CPU_REFERENCE_CORES = 2
GUARD_SECONDS = 3600.0  # a CPU sweep estimated over an hour needs LIMIT, a smaller size, or FORCE=1


def seconds_per_image(model: str, height: int, width: int, cores: int | None = None) -> float:
    cores = cores or os.cpu_count() or 1
    pixels = height * width / (1024 * 2048)
    return CPU_SECONDS_PER_IMAGE.get(model, 6.2) * pixels * CPU_REFERENCE_CORES / min(cores, 16) * 1.0


def host_gb_needed(model: str, height: int, width: int, batch_size: int, backend: str = "ort") -> float | None:
    """The largest measured step peak (export, onnxsim, verify, inference) of this row (semask.core.ram)."""
    from semask.core.ram import host_gb_needed as measured

    return measured(backend, model, height, width, batch_size)


def host_gb_available() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) / 1024 / 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def estimate_cpu_seconds(model: str, height: int, width: int, images: int, bs_list: Sequence[int],
                         perf_seconds: float, loop: int | None, accuracy_each_bs: bool) -> float:
    """Export + onnxsim + verify per BS, one (or every) accuracy pass, and each BS's perf loop + e2e pass."""
    t = seconds_per_image(model, height, width)
    total = 0.0
    for i, bs in enumerate(bs_list):
        total += (bs + 3) * t                          # trace + simplify + verify (ORT batch, 2 PyTorch items)
        if i == 0 or accuracy_each_bs:
            total += images * t                        # inference over the data set
        run = bs * t
        n = loop if loop is not None else max(LOOP_FLOOR, int(perf_seconds // run) if run > 0 else LOOP_FLOOR)
        total += run + n * run + min(images, n * bs) * t   # warm-up, timed loop, end-to-end pass
    return total


# ---------------------------------------------------------------- the sweep
@dataclass
class Plan:
    """What `make reproduce` was asked for (the Makefile's variables)."""

    make: str
    artifacts: Path
    out_dir: Path
    backend: str
    bs_list: List[int]
    precisions: List[str]
    accuracy_each_bs: bool = False
    model: str = "small"
    height: int = 1024
    width: int = 2048
    limit: Optional[int] = None
    data_root: Optional[Path] = None
    provider: str = "cpu"
    loop: Optional[int] = None
    perf_seconds: float = 60.0
    force: bool = False
    command: str = ""
    variables: Dict[str, str] = field(default_factory=dict)


def count_images(data_root: Optional[Path], limit: Optional[int]) -> int:
    if data_root is None:
        return limit or 500
    root = Path(data_root) / "leftImg8bit" / "val"
    n = sum(1 for _ in root.glob("*/*_leftImg8bit.png")) if root.is_dir() else 0
    return min(n, limit) if limit else n


def run_make(plan: Plan, targets: Sequence[str], variables: Dict[str, str]) -> tuple[int, str]:
    """A sub-make of existing targets; its output is shown live (the progress lines) and kept."""
    cmd = [*shlex.split(plan.make), *targets, *(f"{k}={v}" for k, v in variables.items())]
    print("+ " + shlex.join(cmd), flush=True)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace", bufsize=1)
    lines = []
    assert proc.stdout is not None
    for line in proc.stdout:
        sys.stdout.write(line)
        sys.stdout.flush()
        lines.append(line)
    return proc.wait(), "".join(lines)


def paths(plan: Plan, variables: Dict[str, str]) -> Dict[str, str]:
    """The file targets of one (BS, precision), as the Makefile names them (`make paths`)."""
    cmd = [*shlex.split(plan.make), "paths", *(f"{k}={v}" for k, v in variables.items())]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise KitError(f"`{shlex.join(cmd)}` failed: {proc.stderr.strip() or proc.stdout.strip()}")
    return dict(line.split("=", 1) for line in proc.stdout.splitlines() if "=" in line)


def _row_vars(plan: Plan, bs: int, precision: str) -> Dict[str, str]:
    out = {"BS": str(bs)}
    if plan.backend in PRECISION_BACKENDS:
        out["PRECISION"] = precision
    return out


def sweep(plan: Plan) -> Dict[str, Any]:
    """Run every (BS, precision); return the result dict (also written as reproduce.json)."""
    precisions = plan.precisions if plan.backend in PRECISION_BACKENDS else [ORT_PRECISION]
    images = count_images(plan.data_root, plan.limit)
    started = time.monotonic()
    _announce(plan, precisions, images)
    rows: List[Dict[str, Any]] = []
    stop = None
    for precision in precisions:
        accuracy: Optional[Dict[str, Any]] = None
        for bs in plan.bs_list:
            row: Dict[str, Any] = {"bs": bs, "precision": precision, "status": "ok", "reason": None,
                                   "report": None, "perf": None, "mIoU_from_bs": None}
            rows.append(row)
            print(f"[reproduce] row bs{bs} {precision} ({len(rows)} of {len(precisions) * len(plan.bs_list)})",
                  flush=True)
            skip = _memory_guard(plan, bs)
            if skip:
                row.update(status="failed", reason=skip, known=True)
                print(f"[reproduce] bs{bs} {precision}: {skip}", flush=True)
                continue
            variables = _row_vars(plan, bs, precision)
            files = paths(plan, variables)
            row["run"] = files.get("RUN_NAME")
            need_accuracy = accuracy is None or plan.accuracy_each_bs
            if not need_accuracy:
                row["mIoU_from_bs"] = accuracy["bs"]
                row["accuracy_report"] = accuracy["report"]
            for key in (["REPORT"] if need_accuracy else []) + ["PERF_JSON"]:
                code, text = run_make(plan, [files[key]], variables)
                if code != 0:  # a known failure ends this row, an unknown one the sweep
                    stop = None if _failed(row, text, code) else row
                    break
                if key == "REPORT":
                    row.update(report=files["REPORT"], mIoU_from_bs=bs)
                    accuracy = accuracy or {"report": files["REPORT"], "bs": bs}
                else:
                    row["perf"] = files["PERF_JSON"]
            if stop:
                break
        if stop:
            break
    result = collect(plan, rows, images, time.monotonic() - started)
    result["stopped"] = bool(stop)
    return result


def _failed(row: Dict[str, Any], text: str, code: int) -> bool:
    """Record the failure on the row; True when the reason is known (the sweep goes on)."""
    known, reason = classify(text, code)
    row.update(status="failed", reason=reason, known=known)
    print(f"[reproduce] bs{row['bs']} {row['precision']}: {reason}" + ("" if known else " (unknown: stopping)"), flush=True)
    return known


def _memory_guard(plan: Plan, bs: int) -> Optional[str]:
    """On ORT CPU, a batch that cannot fit in host RAM is not attempted (the OOM killer picks any process)."""
    if plan.backend not in CPU_BACKENDS or (plan.backend == "ort" and plan.provider != "cpu"):
        return None
    need, free = host_gb_needed(plan.model, plan.height, plan.width, bs, plan.backend), host_gb_available()
    if need is not None and free is not None and need > free:
        return f"out of memory (host, not attempted): needs ~{need:.0f} GB RAM at bs{bs}, {free:.0f} GB available"
    return None


def _announce(plan: Plan, precisions: Sequence[str], images: int) -> None:
    """Print the plan (and on CPU the estimate) before any work; refuse a CPU run of many hours."""
    print(f"[reproduce] {plan.backend}: BS_LIST={' '.join(map(str, plan.bs_list))} PRECISIONS={' '.join(precisions)}, "
          f"{images} images, MODEL={plan.model} {plan.height}x{plan.width}; mIoU "
          + ("at every BS" if plan.accuracy_each_bs else "once per precision, at the first BS that succeeds"), flush=True)
    if plan.backend not in CPU_BACKENDS:
        return
    secs = estimate_cpu_seconds(plan.model, plan.height, plan.width, images, plan.bs_list, plan.perf_seconds,
                                plan.loop, plan.accuracy_each_bs)
    print(f"[reproduce] estimate on this CPU: about {duration(secs)} (rough: "
          f"{seconds_per_image(plan.model, plan.height, plan.width):.2f} s per image for MODEL={plan.model} at "
          f"{plan.height}x{plan.width} on {os.cpu_count()} cores; artifacts already built are reused)", flush=True)
    if secs > GUARD_SECONDS and not plan.force:
        raise KitError(
            f"make reproduce on ONNX Runtime CPU would take about {duration(secs)} ({images} images at "
            f"{plan.height}x{plan.width}, BS_LIST={' '.join(map(str, plan.bs_list))}); set LIMIT=<N> (e.g. LIMIT=20), "
            "a smaller HEIGHT/WIDTH or BS_LIST, or FORCE=1 to run it anyway")


# ---------------------------------------------------------------- result and table
def collect(plan: Plan, rows: List[Dict[str, Any]], images: int, seconds: float) -> Dict[str, Any]:
    """Read back every row's report and perf JSON into the result (labels, figures, deltas)."""
    from semask.evaluate.table import run_row

    keys = ["model", "input", "weights", "dataset", "backend", "chip", "precision"]
    common: Optional[Dict[str, str]] = None
    first_panel = None
    for row in rows:
        report = d.read_json(row.get("report") or row.get("accuracy_report"))
        perf = d.read_json(row.get("perf"))
        perf_prov = d.read_json(Path(row["perf"]).with_name(Path(row["perf"]).stem + ".provenance.json")) \
            if row.get("perf") else None
        prov = perf_prov or (report or {}).get("provenance") or {}
        if report and report.get("panels") and first_panel is None:
            first_panel = report["panels"][0]
        row["mIoU"] = report.get("mIoU") if report and row["status"] == "ok" else None
        row["fps"] = perf.get("throughput") if perf else None
        row["real_images_per_s"] = d.perf_real_images_per_s(perf)
        row["loop"] = perf.get("loop") if perf else None
        row["labels"] = {}
        if prov:
            row["labels"] = dict(zip(keys, run_row(report, None, perf, prov, "-")["cells"][:7]))
            if report:
                common = common or row["labels"]
        miou_ref, fps_ref = reference_for(row["precision"], row["bs"])
        row["published"] = {"mIoU": miou_ref.miou if miou_ref else None, "mIoU_source": miou_ref.source if miou_ref else None,
                            "fps": fps_ref.fps if fps_ref else None, "fps_failure": fps_ref.failure if fps_ref else None}
        row["delta"] = {"mIoU": _diff(row["mIoU"], row["published"]["mIoU"]), "fps": _diff(row["fps"], row["published"]["fps"])}
    for row in rows:
        if common and not row["labels"]:  # a failed row has no record: it shares the sweep's model, data and tool
            row["labels"] = dict(common)
        row["labels"]["precision"] = row["precision"]
    _agreement_with_fp32(rows)
    from semask.core.provenance import collect as provenance

    return {
        "kind": "reproduce",
        "name": plan.out_dir.name,
        "backend": plan.backend,
        "bs_list": plan.bs_list,
        "precisions": plan.precisions if plan.backend in PRECISION_BACKENDS else [ORT_PRECISION],
        "accuracy_each_bs": plan.accuracy_each_bs,
        "images": images,
        "seconds": round(seconds, 1),
        "rows": rows,
        "first_panel": first_panel,
        "published": [vars(p) for p in PUBLISHED],
        "official_split": OFFICIAL_SPLIT,
        "provenance": provenance(plan.variables, {}, plan.command, plan.backend,
                                 None if plan.backend == "ascend" else plan.provider),
    }


def _agreement_with_fp32(rows: List[Dict[str, Any]]) -> None:
    """Each scored row's label agreement with the fp32 row's predictions (a sweep with fp32 and another precision)."""
    from semask.evaluate.predictions import label_agreement

    def summary(row: Dict[str, Any]) -> tuple[Optional[str], str]:
        report = d.read_json(row.get("report") or row.get("accuracy_report")) or {}
        variables = (report.get("provenance") or {}).get("variables") or {}
        return (report.get("predictions") or {}).get("summary"), variables.get("LABEL_DTYPE", "int32")

    base = next((r for r in rows if r["precision"] == "fp32" and r["status"] == "ok" and summary(r)[0]), None)
    if base is None or all(r["precision"] == "fp32" for r in rows):
        return
    ref, dtype = summary(base)
    for row in rows:
        mine = summary(row)[0] if row["status"] == "ok" else None
        if mine:
            row["label_agreement_vs_fp32"] = 1.0 if mine == ref else label_agreement(Path(mine), Path(ref), dtype)["agreement"]


def _diff(a: Optional[float], b: Optional[float]) -> Optional[float]:
    return None if a is None or b is None else round(a - b, 4)


REPRO_COLUMNS = ["model", "input", "weights", "dataset", "backend/provider", "chip", "precision", "BS", "mIoU",
                 "published mIoU", "Δ mIoU", d.FPS_HEADER, "published fps (310P3)", "Δ fps", d.REAL_HEADER, "note"]


def _cell(value: Optional[float]) -> str:
    return d.fmt(value)


def render(result: Dict[str, Any], base: Optional[Path] = None) -> str:
    """The Markdown report of a sweep (also what `make table RUN=<reproduce name>` prints)."""
    from semask.evaluate.table import _row, published_cells, COLUMNS

    rows = result.get("rows", [])
    lines = [f"# make reproduce: {result.get('name', '')}", ""]
    random = any((r.get("labels") or {}).get("weights", "").startswith("**random**") for r in rows)
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
            miou = _cell(r.get("mIoU"))
            if r.get("mIoU_from_bs") and r.get("mIoU_from_bs") != r["bs"]:
                miou += f" (at bs{r['mIoU_from_bs']})"
            fps = _cell(r.get("fps"))
            note = f"LOOP={r.get('loop')}" if r.get("loop") else ""
            if r.get("label_agreement_vs_fp32") is not None:
                note += f"{'; ' if note else ''}labels = fp32 row's: {100 * r['label_agreement_vs_fp32']:.4g} %"
        pub_fps = pub.get("fps_failure") or _cell(pub.get("fps"))
        lines.append(_row([lab.get("model", "?"), lab.get("input", "?"), lab.get("weights", "?"), lab.get("dataset", "?"),
                           lab.get("backend", "?"), lab.get("chip", "?"), lab.get("precision", r["precision"]),
                           str(r["bs"]), miou, _cell(pub.get("mIoU")), d.delta(r.get("mIoU"), pub.get("mIoU")),
                           fps, pub_fps, d.delta(r.get("fps"), pub.get("fps")),
                           _cell(r.get("real_images_per_s")), note]))
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


def write(result: Dict[str, Any], out_dir: Path) -> tuple[Path, Path]:
    ensure_writable_dir(out_dir, "reproduce folder")
    json_path, md_path = out_dir / "reproduce.json", out_dir / "reproduce.md"
    atomic_write_json(json_path, result)
    atomic_write_text(md_path, render(result, out_dir))
    return json_path, md_path


def run(plan: Plan) -> int:
    """The sweep, its files, the table, `reports/latest`; exit code 0 unless nothing ran or an unknown failure."""
    from semask.evaluate.table import write_latest

    result = sweep(plan)
    json_path, md_path = write(result, plan.out_dir)
    write_latest(plan.artifacts, json_path)
    print(render(result, plan.out_dir), end="")
    print(f"reproduce: {md_path} and {json_path}")
    failed = [r for r in result["rows"] if r["status"] != "ok"]
    if failed:
        print(f"warning: {len(failed)} of {len(result['rows'])} rows did not run: "
              + "; ".join(f"bs{r['bs']} {r['precision']}: {r['reason']}" for r in failed), file=sys.stderr)
    if result.get("stopped"):
        return 1
    return 0 if any(r["status"] == "ok" for r in result["rows"]) else 1
