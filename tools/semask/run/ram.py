"""Host RAM a CPU run needs, from measured per-step peaks (env/ram_measured.json), not a guess.

Why: `make reproduce` skips a batch size that cannot fit in the host's RAM (the kernel's OOM killer
would pick any process, not necessarily ours). The figures are the peak RSS of each step of
`make perf` from an empty ARTIFACTS (trace/export, onnxsim, verify, inference), measured by
semask.core.memory on SeMask-S at 1024x2048 for several batch sizes and each CPU backend.
Each step's peak is a line in BS through those points (least squares); another model or size
scales the per-image part by its pixels and the model's relative size. The need of a row is its
largest step (the steps run one after another, in separate processes). Standard library only.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict

from semask.core.fsio import load_json
from semask.model.config import MODEL_TABLE
from semask.spec import CHECKOUT

MEASURED = CHECKOUT / "env" / "ram_measured.json"
# per-image activation memory relative to SeMask-S: each model row's ram_scale
MODEL_SCALE = {m.name: m.ram_scale for m in MODEL_TABLE}


def load(path: Path | str = MEASURED) -> Dict[str, Any]:
    """The measured figures; {} when the file is missing or unreadable (then no row is refused)."""
    data = load_json(path)
    return {} if data is None else data


def _line(points: Dict[str, int]) -> tuple[float, float]:
    """(intercept, slope) in bytes of a least-squares line through {bs: bytes} (two points at least)."""
    xs = [float(k) for k in points]
    ys = [float(v) for v in points.values()]
    if len(xs) == 1:
        return 0.0, ys[0] / xs[0]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)
    return my - slope * mx, slope


def step_peaks_gb(backend: str, model: str, height: int, width: int, batch_size: int,
                  data: Dict[str, Any] | None = None) -> Dict[str, float] | None:
    """Each step's expected peak RSS in GB for this row; None for a backend without figures (Ascend)."""
    data = data if data is not None else load()
    steps = (data.get("peak_rss_bytes") or {}).get(backend)
    if not steps:
        return None
    pixels = height * width / (data["height"] * data["width"])
    scale = MODEL_SCALE.get(model, 1.0) / MODEL_SCALE.get(data["model"], 1.0)
    out = {}
    for step, points in steps.items():
        intercept, slope = _line(points)
        out[step] = (intercept + slope * batch_size * pixels * scale) / 1e9
    return out


def host_gb_needed(backend: str, model: str, height: int, width: int, batch_size: int,
                   data: Dict[str, Any] | None = None) -> float | None:
    """The largest step's expected peak (GB) of `make perf`/`make all` for this row, or None without figures."""
    peaks = step_peaks_gb(backend, model, height, width, batch_size, data)
    return max(peaks.values()) if peaks else None


# the only way to hand the parse-time RAM check another host's size: a /proc/meminfo-like file (tests)
MEMINFO_ENV = "SEMASK_TEST_MEMINFO"
MEMINFO = Path("/proc/meminfo")
STEP_GOALS = frozenset({"all", "perf", "onnx", "preds", "report"})  # goals that export or run the model at BS


def host_total_gb(environ: Dict[str, str] | None = None) -> float | None:
    """MemTotal in GB (of $SEMASK_TEST_MEMINFO when set, else /proc/meminfo); None when unknown."""
    path = Path((environ or {}).get(MEMINFO_ENV) or MEMINFO)
    try:
        for line in path.read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024 / 1e9
    except (OSError, ValueError, IndexError):
        pass
    return None


def largest_fitting_bs(backend: str, model: str, height: int, width: int, total_gb: float, below: int) -> int:
    """The largest BS under `below` whose every measured step fits in `total_gb` (0: not even BS=1); the need
    grows with BS (each step's peak is a line in BS), so a bisection finds it."""
    lo, hi = 0, below  # fits(lo) (0 trivially), not fits(hi)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        need = host_gb_needed(backend, model, height, width, mid)
        if need is not None and need <= total_gb:
            lo = mid
        else:
            hi = mid
    return lo


def bs_problem(backend: str, model: str, height: int, width: int, batch_size: int,
               environ: Dict[str, str] | None = None) -> str | None:
    """The one-line refusal of a BS whose measured steps cannot fit in this host's RAM, before any step runs
    (the export of BS=100000 grew to 24 GB before the OOM killer ended it), or None."""
    need, total = host_gb_needed(backend, model, height, width, batch_size), host_total_gb(environ)
    if need is None or total is None or need <= total:
        return None
    fits = largest_fitting_bs(backend, model, height, width, total, batch_size)
    advice = (f"the largest BS that fits is {fits}: use BS={fits} or less" if fits else
              "not even BS=1 fits: use a smaller HEIGHT/WIDTH or a host with more RAM")
    return (f"BS={batch_size} needs about {need:.1f} GB of RAM at its largest step (measured per-step peaks in "
            f"{MEASURED.relative_to(CHECKOUT)}, scaled to MODEL={model} at {height}x{width}) but this host has "
            f"{total:.1f} GB; nothing was run: {advice}")
