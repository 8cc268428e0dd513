"""ais_bench-compatible run summary: the `<prefix>_summary.json` dict and the printed block.

Keys, order and formulas follow T-HEAD `summary.py` so downstream code (and people) can read
an ONNX Runtime run exactly like an ais_bench run: throughput = 1000*batchsize/mean(compute ms).
Also parses ais_bench's printed throughput / NPU_compute_time lines (all documented variants).
"""
from __future__ import annotations

import os
import re
from typing import Any, Sequence

import numpy as np

from semask.core.errors import KitError

PERCENTILE = 99
_P_KEY = f"percentile({PERCENTILE}%)"
SUMMARY_HEADER = "-----------------Performance Summary------------------"
SUMMARY_FOOTER = "------------------------------------------------------"


def time_stats(values_ms: Sequence[float], percentiles: Sequence[int] = (PERCENTILE,)) -> dict[str, float | int]:
    """{min,max,mean,median,percentile(P%)...,count} in ms, ais_bench's keys and order; zeros when empty.

    The kit's one latency statistic: the summary's NPU_compute_time uses the default (P = 99, as
    ais_bench), the perf JSON asks for 90 and 99 too and reshapes it with `latency_block`.
    """
    keys = [f"percentile({p}%)" for p in percentiles]
    if len(values_ms) == 0:
        return {"min": 0.0, "max": 0.0, "mean": 0.0, "median": 0.0, **{k: 0.0 for k in keys}, "count": 0}
    arr = np.asarray(values_ms, dtype=np.float64)
    return {
        "min": float(arr.min()),
        "max": float(arr.max()),
        "mean": float(arr.mean()),
        "median": float(np.median(arr)),
        **{k: float(np.percentile(arr, p)) for k, p in zip(keys, percentiles)},
        "count": int(arr.size),
    }


def latency_block(stats: dict[str, Any]) -> dict[str, float | None]:
    """The perf JSON's `latency_ms` {mean,p50,p90,p99,min,max} from ais_bench-style stats (None where absent)."""
    return {"mean": stats.get("mean"), "p50": stats.get("median"), "p90": stats.get("percentile(90%)"),
            "p99": stats.get("percentile(99%)"), "min": stats.get("min"), "max": stats.get("max")}


def throughput(batch_size: int, compute_ms: Sequence[float]) -> float:
    """ais_bench's definition: 1000 * batchsize / mean(compute time in ms), in samples/s."""
    if len(compute_ms) == 0:
        return 0.0
    mean = float(np.mean(compute_ms))
    return 1000.0 * batch_size / mean if mean > 0 else float("inf")


def build_summary(
    filesinfo: dict[str, dict[str, list[str]]],
    args: Sequence[str],
    compute_ms: Sequence[float],
    batch_size: int,
    extra: dict[str, Any] | None = None,
    transfer_ms: tuple[Sequence[float], Sequence[float]] = ((), ()),
) -> dict[str, Any]:
    """The summary dict in ais_bench key order; `extra` keys (e.g. provider) are appended.
    `transfer_ms` is (H2D, D2H) latencies in ms (none for the kit's own runtimes)."""
    h2d_ms, d2h_ms = transfer_ms
    summary: dict[str, Any] = {
        "filesinfo": filesinfo,
        "args": list(args),
        "NPU_compute_time": time_stats(compute_ms),
        "H2D_latency": time_stats(h2d_ms),
        "D2H_latency": time_stats(d2h_ms),
        "throughput": throughput(batch_size, compute_ms),
        "npu_compute_time_list": [float(v) for v in compute_ms],
        "pid": os.getpid(),
    }
    summary.update(extra or {})
    return summary


def _stats_line(name: str, stats: dict[str, Any]) -> str:
    return (
        f"[INFO] {name} (ms): min = {stats['min']}, max = {stats['max']}, mean = {stats['mean']}, "
        f"median = {stats['median']}, {_P_KEY} = {stats[_P_KEY]}"
    )


def summary_lines(summary: dict[str, Any], batch_size: int, display_all: bool = False) -> list[str]:
    """The block ais_bench prints after a run (H2D/D2H only with display_all)."""
    lines = [f"[INFO] {SUMMARY_HEADER}"]
    if display_all:
        lines.append(_stats_line("H2D_latency", summary["H2D_latency"]))
    lines.append(_stats_line("NPU_compute_time", summary["NPU_compute_time"]))
    if display_all:
        lines.append(_stats_line("D2H_latency", summary["D2H_latency"]))
    lines.append(
        f"[INFO] throughput 1000*batchsize.mean({batch_size})/NPU_compute_time.mean("
        f"{summary['NPU_compute_time']['mean']}): {summary['throughput']}"
    )
    lines.append(f"[INFO] {SUMMARY_FOOTER}")
    return lines


def parse_throughput(text: str, source: str = "ais_bench output") -> float:
    """Last token of the last line containing 'throughput' (what ais_bench itself greps)."""
    lines = [ln for ln in text.splitlines() if "throughput" in ln]
    if not lines:
        raise KitError(f"no 'throughput' line in {source}; the run did not finish (see its log above)")
    token = lines[-1].split()[-1]
    try:
        return float(token)
    except ValueError:
        raise KitError(f"cannot read a number from the throughput line {lines[-1]!r} in {source}") from None


_NUM = r"([-+0-9.eE]+|nan|inf)"
_STATS_RE = re.compile(
    r"NPU_compute_time \(ms\): min = " + _NUM + r", max = " + _NUM + r", mean = " + _NUM
    + r", median = " + _NUM + r", percentile\((\d+)%\) = " + _NUM
)


def parse_compute_stats(text: str) -> dict[str, float] | None:
    """The last `NPU_compute_time (ms): min = …` line as a dict, or None when absent."""
    matches = list(_STATS_RE.finditer(text))
    if not matches:
        return None
    mn, mx, mean, median, pct, pval = matches[-1].groups()
    return {"min": float(mn), "max": float(mx), "mean": float(mean), "median": float(median),
            f"percentile({pct}%)": float(pval)}

