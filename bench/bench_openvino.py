#!/usr/bin/env python3
"""OpenVINO (CPU) against ONNX Runtime on the kit's graphs: alternating timings, label agreement, peak RSS.

    .venv/bin/python bench/bench_openvino.py [--ort-graph X_bs1_..._ort.onnx --sim-graph X_bs1_..._sim.onnx] \
        [--rss-graph X_bs8_..._ort.onnx ...] [--rounds 5] [--out bench/out/openvino.json]

Without --ort-graph it exports SeMask-S (random weights) at 1024x2048 into bench/out/graphs (kept for the
next run): bs1 `_ort` and `_sim` for the timings and bs1 + bs8 `_ort` for the peak RSS (bs8 only when
MemAvailable allows it).

Timing: every contender is loaded once in this process, then the rounds run them in turn on the same
input (ORT's kit graph in the kit's session and with ORT's default memory pattern, OpenVINO fp32 on that
graph, OpenVINO fp32 on the _sim graph, OpenVINO bf16 where the CPU has avx512_bf16 or AMX). Other work on the machine slows every contender of a round alike, so the
figures are per-round ratios to ORT (and bf16 to OpenVINO fp32), reported as median and range.
Labels: each contender's labels against ORT's on that input (fraction of equal pixels).
Peak RSS: each (runtime, graph) of --rss-graph in a fresh process that loads the graph and runs it once
(VmHWM), the figure a bare run needs. A graph is skipped, and says so, when MemAvailable is below the
--rss-need-gb it asks for (bs8 at 1024x2048 wants ~13 GB on ORT).
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

import numpy as np  # noqa: E402

from semask.core.cpuflags import bf16_units, read_flags  # noqa: E402
from semask.core.fsio import atomic_write_json  # noqa: E402
from semask.run.provenance import cpu_model  # noqa: E402
from semask.model.onnx_io import single_input  # noqa: E402

CHILD = r"""
import sys, json, numpy as np
sys.path.insert(0, sys.argv[1] + "/tools")
from semask.core.memory import peak_rss_bytes
from semask.model.onnx_io import onnx_io
runtime, graph, precision = sys.argv[2], sys.argv[3], sys.argv[4]
spec = onnx_io(graph)[0][0]
x = np.random.default_rng(0).standard_normal(spec.shape).astype(np.float32)
if runtime == "ort":
    from semask.model.ort_session import make_session
    s = make_session(graph, "cpu")
else:
    from semask.backends.openvino.runtime import Session
    s = Session(graph, precision)
s.run(None, {spec.name: x})
print(json.dumps({"peak_rss_bytes": peak_rss_bytes()}))
"""


def ensure_graph(folder: Path, target: str, bs: int, height: int = 1024, width: int = 2048) -> str:
    """The kit's graph (`ort` or `sim`) of SeMask-S random weights, exported with tools/export_onnx.py if missing."""
    out = folder / f"semask_small_bs{bs}_{height}x{width}_{target}.onnx"
    if not out.exists():
        folder.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, "tools/export_onnx.py", "--model", "small", "--weights", "random", "--batch-size", str(bs),
               "--height", str(height), "--width", str(width), "--out", str(out)]
        subprocess.run(cmd + (["--target", "ort"] if target == "ort" else []), cwd=ROOT, check=True,
                       env={**__import__("os").environ, "PYTHONPATH": str(ROOT / "tools")})
    return str(out)


def mem_available_gb() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) / 1024 / 1024
    return float("nan")


def contenders(ort_graph: str, sim_graph: str | None, bf16: bool) -> dict:
    from semask.backends.openvino.runtime import Session
    from semask.model.ort_session import make_session

    import onnxruntime

    found = {"ort": make_session(ort_graph, "cpu"), "ov_fp32": Session(ort_graph, "fp32"),
             # ORT's defaults (memory pattern on): what the kit's session gave up for its flat peak
             "ort_mem_pattern": onnxruntime.InferenceSession(ort_graph, providers=["CPUExecutionProvider"])}
    if sim_graph:
        found["ov_fp32_sim"] = Session(sim_graph, "fp32")
    if bf16:
        found["ov_bf16"] = Session(ort_graph, "bf16")
    return found


def ratios(times: dict, key: str, base: str) -> dict:
    r = [a / b for a, b in zip(times[key], times[base])]
    return {"median": statistics.median(r), "min": min(r), "max": max(r), "rounds": len(r)}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ort-graph", default=None, help="the kit's *_ort.onnx (labels output); default: exported")
    p.add_argument("--sim-graph", default=None, help="the kit's *_sim.onnx of the same export (optional)")
    p.add_argument("--rss-graph", action="append", default=[], help="graphs to measure the bare peak RSS of")
    p.add_argument("--rss-need-gb", type=float, default=18.0, help="MemAvailable needed before a bs>=8 RSS run")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--out", default=str(ROOT / "bench" / "out" / "openvino.json"))
    a = p.parse_args()
    import openvino
    import onnxruntime

    units = bf16_units(read_flags())
    if a.ort_graph is None:
        graphs = Path(a.out).parent / "graphs"
        a.ort_graph, a.sim_graph = ensure_graph(graphs, "ort", 1), ensure_graph(graphs, "sim", 1)
        a.rss_graph = a.rss_graph or [a.ort_graph] + ([ensure_graph(graphs, "ort", 8)]
                                                      if mem_available_gb() >= a.rss_need_gb else [])
    spec, _ = single_input(a.ort_graph, single_input_batch(a.ort_graph))
    x = np.random.default_rng(0).standard_normal(spec.shape).astype(np.float32)
    runners = contenders(a.ort_graph, a.sim_graph, bool(units))
    labels, times = {}, {k: [] for k in runners}
    for name, s in runners.items():  # warm-up, and the labels
        labels[name] = s.run(None, {spec.name: x})[0]
    for i in range(a.rounds):
        for name, s in runners.items():
            t = time.perf_counter()
            s.run(None, {spec.name: x})
            times[name].append(time.perf_counter() - t)
        print(f"round {i + 1}/{a.rounds}: " + ", ".join(f"{k} {v[-1]:.2f} s" for k, v in times.items()), flush=True)
    del runners
    result = {
        "cpu": cpu_model(), "cores": __import__("os").cpu_count(), "bf16_units": units,
        "load_average": list(__import__("os").getloadavg()), "machine": platform.machine(),
        "openvino": openvino.__version__, "onnxruntime": onnxruntime.__version__,
        "graph": a.ort_graph, "sim_graph": a.sim_graph, "input_shape": list(spec.shape),
        "seconds": {k: v for k, v in times.items()},
        "time_vs_ort": {k: ratios(times, k, "ort") for k in times if k != "ort"},
        "labels_equal_to_ort": {k: float((v == labels["ort"]).mean()) for k, v in labels.items() if k != "ort"},
    }
    if "ov_bf16" in times:
        result["bf16_time_vs_ov_fp32"] = ratios(times, "ov_bf16", "ov_fp32")
        result["bf16_labels_equal_to_ov_fp32"] = float((labels["ov_bf16"] == labels["ov_fp32"]).mean())
    result["peak_rss"] = [bare_peak(g, a.rss_need_gb, units) for g in a.rss_graph]
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(Path(a.out), result)
    print(json.dumps({k: result[k] for k in result if k not in ("seconds",)}, indent=1))
    return 0


def single_input_batch(graph: str) -> int:
    from semask.model.onnx_io import onnx_io

    return onnx_io(graph)[0][0].shape[0]


def bare_peak(graph: str, need_gb: float, units: list) -> dict:
    """One fresh process per (runtime, precision): load `graph`, run it once, report VmHWM."""
    bs = single_input_batch(graph)
    rows = []
    for runtime, precision in [("ort", "fp32"), ("openvino", "fp32")] + ([("openvino", "bf16")] if units else []):
        free = mem_available_gb()
        if bs >= 8 and free < need_gb:
            rows.append({"runtime": runtime, "precision": precision, "skipped": f"MemAvailable {free:.1f} GB < {need_gb}"})
            continue
        started = time.perf_counter()
        proc = subprocess.run([sys.executable, "-c", CHILD, str(ROOT), runtime, graph, precision],
                              capture_output=True, text=True)
        row = {"runtime": runtime, "precision": precision, "batch_size": bs, "seconds": round(time.perf_counter() - started, 1)}
        if proc.returncode == 0:
            row["peak_rss_bytes"] = json.loads(proc.stdout.strip().splitlines()[-1])["peak_rss_bytes"]
        else:
            row["failed"] = (proc.stderr.strip().splitlines() or ["?"])[-1]
        print(f"peak RSS bs{bs} {runtime} {precision}: {row.get('peak_rss_bytes', 0) / 1e9:.2f} GB", flush=True)
        rows.append(row)
    return {"graph": graph, "rows": rows}


if __name__ == "__main__":
    sys.exit(main())
