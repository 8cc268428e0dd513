"""`make reproduce`: the published table, every row, in one command.

Why: the published result is a table (mIoU at bs 1/4/8, fps per BS, bs16 out of memory), and one
`make all` gives one row. This sweeps BS_LIST x PRECISIONS by running make's own file targets
(`make <report>` once per precision at the first BS that succeeds, `make <perf json>` for every
row), so every artifact already built is reused and nothing is computed a second way. A row that
fails for a known reason (device or host out of memory, atc refusing the graph) becomes a row that
says so and the sweep goes on, as in the published bs16 line. The result is one Markdown table
beside the published figures, with deltas, and a JSON with provenance.

The hops, kept on purpose: make (parse: tools/plan_run.py writes the plan) -> this sweep (Python) -> one
sub-make per row (parse again: the row's plan, BS/PRECISION changed) -> `python -m semask <step> --plan`
for what that row still lacks. Calling the steps from here would skip make's rebuild rules (stamps,
mtimes, the writer lock per step), which are what lets a row reuse every artifact an earlier row or run
made; a row's names come from `RunPlan.with_values` here and from the sub-make's plan there, one code.
"""
from __future__ import annotations

import os
import re
import shlex
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from semask.core.errors import KitError
from semask.core.procs import run_streamed
from semask.run.provenance import collect as provenance
from semask.core.fsio import atomic_write_json, atomic_write_text, ensure_writable_dir
from semask.core.progress import LOOP_FLOOR, duration
from semask.evaluate import describe as d
from semask.evaluate.published import OFFICIAL_LABEL, OFFICIAL_SPLIT, PUBLISHED, RunFacts, reference_for
from semask.run.table import render_reproduce, run_row
from semask.run.plan import RunPlan, write_latest
from semask.model.config import MODEL_ROWS
from semask.spec import CPU_REFERENCE_CORES
from semask.backends.envcheck import ascend_info

REPRO_VARIABLES = ("BS_LIST", "PRECISIONS", "ACCURACY_EACH_BS")
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
# Seconds per image on the reference CPU come from the model's row (semask.model.config) (SeMask-S measured, others scaled by
# FLOPs); every model scales by pixels and cores. A rough guide, no promise.
GUARD_SECONDS = 3600.0  # a CPU sweep estimated over an hour needs LIMIT, a smaller size, or FORCE=1


def seconds_per_image(model: str, height: int, width: int, cores: int | None = None) -> float:
    cores = cores or os.cpu_count() or 1
    pixels = height * width / (1024 * 2048)
    return MODEL_ROWS[model].cpu_seconds_per_image * pixels * CPU_REFERENCE_CORES / min(cores, 16)


def host_gb_needed(model: str, height: int, width: int, batch_size: int, backend: str = "ort") -> float | None:
    """The largest measured step peak (export, onnxsim, verify, inference) of this row (semask.run.ram)."""
    from semask.run.ram import host_gb_needed as measured

    return measured(backend, model, height, width, batch_size)


def host_gb_available() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) / 1024 / 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def estimate_cpu_seconds(plan: Sweep, images: int) -> float:
    """Export + onnxsim + verify per BS, one (or every) accuracy pass, and each BS's perf loop + e2e pass."""
    t = seconds_per_image(plan.model, plan.height, plan.width)
    perf_seconds, loop = float(plan.run["PERF_SECONDS"]), plan.loop
    total = 0.0
    for i, bs in enumerate(plan.bs_list):
        total += (bs + 3) * t                          # trace + simplify + verify (ORT batch, 2 PyTorch items)
        if i == 0 or plan.accuracy_each_bs:
            total += images * t                        # inference over the data set
        run = bs * t
        n = loop if loop is not None else max(LOOP_FLOOR, int(perf_seconds // run) if run > 0 else LOOP_FLOOR)
        total += run + n * run + min(images, n * bs) * t   # warm-up, timed loop, end-to-end pass
    return total


# ---------------------------------------------------------------- the sweep
@dataclass(frozen=True)
class Sweep:
    """What `make reproduce` was asked for: the run's plan (BS_LIST, PRECISIONS, ... in its values)."""

    run: RunPlan
    make: str = "make"
    command: str = "make reproduce"

    @property
    def backend(self) -> str:
        return self.run.backend

    @property
    def artifacts(self) -> Path:
        return self.run.artifacts

    @property
    def out_dir(self) -> Path:
        return self.run.path("REPRO_DIR")

    @property
    def bs_list(self) -> List[int]:
        return list(dict.fromkeys(int(b) for b in self.run["BS_LIST"].split()))  # each BS once

    @property
    def precisions(self) -> List[str]:
        swept = self.run.runner.precisions()  # ONNX Runtime takes one: nothing to sweep
        return list(dict.fromkeys(self.run["PRECISIONS"].split())) if len(swept) > 1 else list(swept)  # each once

    @property
    def accuracy_each_bs(self) -> bool:
        return self.run["ACCURACY_EACH_BS"] == "1"

    @property
    def model(self) -> str:
        return self.run["MODEL"]

    @property
    def height(self) -> int:
        return int(self.run["HEIGHT"])

    @property
    def width(self) -> int:
        return int(self.run["WIDTH"])

    @property
    def limit(self) -> Optional[int]:
        return int(self.run["LIMIT"]) if self.run["LIMIT"] else None

    @property
    def loop(self) -> Optional[int]:
        return None if self.run["LOOP"] == "auto" else int(self.run["LOOP"])

    def row(self, bs: int, precision: str) -> Tuple[Dict[str, str], Dict[str, str]]:
        """(the sub-make's variables, the row's file targets) of one (BS, precision)."""
        variables = {"BS": str(bs), **({"PRECISION": precision} if len(self.run.runner.precisions()) > 1 else {})}
        return variables, self.run.with_values(**variables).paths()


def count_images(data_root: Optional[Path], limit: Optional[int]) -> int:
    if data_root is None:
        return limit or 500
    root = Path(data_root) / "leftImg8bit" / "val"
    n = sum(1 for _ in root.glob("*/*_leftImg8bit.png")) if root.is_dir() else 0
    return min(n, limit) if limit else n


def run_make(plan: Sweep, targets: Sequence[str], variables: Dict[str, str]) -> tuple[int, str]:
    """A sub-make of existing targets; its output is shown live (the progress lines) and kept."""
    cmd = [*shlex.split(plan.make), *targets, *(f"{k}={v}" for k, v in variables.items())]
    print("+ " + shlex.join(cmd), flush=True)
    return run_streamed(cmd)


def sweep(plan: Sweep) -> Dict[str, Any]:
    """Run every (BS, precision); return the result dict (also written as reproduce.json)."""
    precisions = plan.precisions
    images = count_images(Path(plan.run["DATA_ROOT"]), plan.limit)
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
            variables, files = plan.row(bs, precision)
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


def _memory_guard(plan: Sweep, bs: int) -> Optional[str]:
    """On a CPU backend, a batch whose measured steps cannot fit in host RAM is not attempted (the OOM killer
    picks any process)."""
    if plan.backend not in CPU_BACKENDS or (plan.backend == "ort" and plan.run["ORT_PROVIDER"] != "cpu"):
        return None
    need, free = host_gb_needed(plan.model, plan.height, plan.width, bs, plan.backend), host_gb_available()
    if need is not None and free is not None and need > free:
        return f"out of memory (host, not attempted): needs ~{need:.0f} GB RAM at bs{bs}, {free:.0f} GB available"
    return None


def _announce(plan: Sweep, precisions: Sequence[str], images: int) -> None:
    """Print the plan (and on CPU the estimate) before any work; refuse a CPU run of many hours."""
    print(f"[reproduce] {plan.backend}: BS_LIST={' '.join(map(str, plan.bs_list))} PRECISIONS={' '.join(precisions)}, "
          f"{images} images, MODEL={plan.model} {plan.height}x{plan.width}; mIoU "
          + ("at every BS" if plan.accuracy_each_bs else "once per precision, at the first BS that succeeds"), flush=True)
    if plan.backend not in CPU_BACKENDS:
        return
    secs = estimate_cpu_seconds(plan, images)
    print(f"[reproduce] estimate on this CPU: about {duration(secs)} (rough: "
          f"{seconds_per_image(plan.model, plan.height, plan.width):.2f} s per image for MODEL={plan.model} at "
          f"{plan.height}x{plan.width} on {os.cpu_count()} cores; artifacts already built are reused)", flush=True)
    if secs > GUARD_SECONDS and plan.run["FORCE"] != "1":
        raise KitError(
            f"make reproduce on ONNX Runtime CPU would take about {duration(secs)} ({images} images at "
            f"{plan.height}x{plan.width}, BS_LIST={' '.join(map(str, plan.bs_list))}); set LIMIT=<N> (e.g. LIMIT=20), "
            "a smaller HEIGHT/WIDTH or BS_LIST, or FORCE=1 to run it anyway")


# ---------------------------------------------------------------- result and table
def collect(plan: Sweep, rows: List[Dict[str, Any]], images: int, seconds: float) -> Dict[str, Any]:
    """Read back every row's report and perf JSON into the result (labels, figures, deltas)."""
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
        sqnr = (perf or {}).get("logit_sqnr") or {}  # OpenVINO bf16/int8 (Ascend's OM gives labels only: none)
        row["logit_sqnr_db"] = sqnr.get("sqnr_db")
        row["logit_sqnr_frames"] = sqnr.get("frames")
        row["labels"] = {}
        if prov:
            row["labels"] = dict(zip(keys, run_row(report, None, perf, prov, "-")["cells"][:7]))
            if report:
                common = common or row["labels"]
    for row in rows:
        if common and not row["labels"]:  # a failed row has no record: it shares the sweep's model, data and tool
            row["labels"] = dict(common)
        row["labels"]["precision"] = row["precision"]
        _compare(plan, row, (common or row["labels"]).get("dataset", ""))
    _agreement_with_fp32(rows)
    return {
        "kind": "reproduce",
        "name": plan.out_dir.name,
        "backend": plan.backend,
        "bs_list": plan.bs_list,
        "precisions": plan.precisions,
        "accuracy_each_bs": plan.accuracy_each_bs,
        "images": images,
        "seconds": round(seconds, 1),
        "rows": rows,
        "first_panel": first_panel,
        "published": [vars(p) for p in PUBLISHED],
        "official_split": OFFICIAL_SPLIT,
        "provenance": provenance({**plan.run.record_variables(), **{k: plan.run[k] for k in REPRO_VARIABLES}}, {},
                                 plan.command, plan.backend, None if plan.backend == "ascend" else plan.run.provider,
                                 plan.run.runner.host_facts()),
    }


def _compare(plan: Sweep, row: Dict[str, Any], dataset: str) -> None:
    """The published figures beside a row; a Δ only when the published row is its like (published.reference_for)."""
    ref = reference_for(RunFacts(model=plan.model, height=plan.height, width=plan.width,
                                 full_val=dataset.startswith(f"{OFFICIAL_LABEL} ("),
                                 official_weights=plan.run.resolved.weights_tag == "official",
                                 precision=row["precision"], batch_size=row["bs"],
                                 chip=plan.run.resolved.soc if plan.backend == "ascend" else ""))
    miou_ref, fps_ref = ref.miou_row, ref.fps_row
    row["published"] = {"mIoU": miou_ref.miou if miou_ref else None, "mIoU_source": miou_ref.source if miou_ref else None,
                        "fps": fps_ref.fps if fps_ref else None, "fps_failure": fps_ref.failure if fps_ref else None,
                        "mIoU_comparable": ref.miou_comparable, "fps_comparable": ref.fps_comparable,
                        "why_not": ref.why_not}
    row["delta"] = {"mIoU": _diff(row["mIoU"], row["published"]["mIoU"]) if ref.miou_comparable else None,
                    "fps": _diff(row["fps"], row["published"]["fps"]) if ref.fps_comparable else None}


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


def write(result: Dict[str, Any], out_dir: Path) -> tuple[Path, Path]:
    ensure_writable_dir(out_dir, "reproduce folder")
    json_path, md_path = out_dir / "reproduce.json", out_dir / "reproduce.md"
    atomic_write_json(json_path, result)
    atomic_write_text(md_path, render_reproduce(result, out_dir))
    return json_path, md_path


def run(plan: Sweep) -> int:
    """The sweep, its files, the table, `reports/latest`; exit code 0 unless nothing ran or an unknown failure."""
    result = sweep(plan)
    json_path, md_path = write(result, plan.out_dir)
    write_latest(plan.artifacts, json_path)
    print(render_reproduce(result, plan.out_dir), end="")
    print(f"reproduce: {md_path} and {json_path}")
    failed = [r for r in result["rows"] if r["status"] != "ok"]
    if failed:
        print(f"warning: {len(failed)} of {len(result['rows'])} rows did not run: "
              + "; ".join(f"bs{r['bs']} {r['precision']}: {r['reason']}" for r in failed), file=sys.stderr)
    if result.get("stopped"):
        return 1
    return 0 if any(r["status"] == "ok" for r in result["rows"]) else 1
