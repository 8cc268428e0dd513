#!/usr/bin/env python3
"""OpenVINO (CPU) against ONNX Runtime on the kit's graphs: alternating timings, label agreement, logit SQNR,
peak RSS; fp32, bf16 and int8 (NNCF, semask.backends.openvino.quantize) side by side.

    .venv/bin/python bench/bench_openvino.py [--ort-graph X_bs1_..._ort.onnx --sim-graph X_bs1_..._sim.onnx] \
        [--rss-graph X_bs8_..._ort.onnx ...] [--rounds 5] [--height 1024 --width 2048] [--bins <run's bins>] \
        [--calib 8] [--out bench/out/openvino.json]

int8: each graph is quantised with the kit's own code on the first --calib frames of --bins (default:
`make demo`'s synthetic frames at the bench's size, made with the kit's tools into bench/out/bins_<HxW>), so
the IR is the one `make ... PRECISION=int8` would build. Its logit SQNR and bf16's, against OpenVINO fp32,
come from semask.backends.openvino.sqnr_check on those frames.

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

from semask.core.cpuflags import bf16_units, int8_units, read_flags  # noqa: E402
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
    s = Session(sys.argv[5] if precision == "int8" else graph, precision)
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


def ensure_bins(folder: Path, height: int, width: int, num: int) -> Path:
    """`make demo`'s synthetic frames at the bench's size, preprocessed by the kit's own tools (kept for the next run)."""
    data, bins = folder / f"demo_{height}x{width}", folder / f"bins_{height}x{width}"
    if not (bins / "manifest.json").is_file():
        env = {**__import__("os").environ, "PYTHONPATH": str(ROOT / "tools")}
        subprocess.run([sys.executable, "tools/make_synthetic_cityscapes.py", "--out", str(data), "--num", str(num),
                        "--height", str(height), "--width", str(width)], cwd=ROOT, check=True, env=env)
        subprocess.run([sys.executable, "tools/preprocess.py", "--data-root", str(data), "--out", str(bins),
                        "--height", str(height), "--width", str(width), "--limit", str(num)], cwd=ROOT, check=True, env=env)
    return bins


def int8_ir(graph: str, bins: Path, calib: int) -> dict:
    """The kit's int8 IR of `graph` (quantised once, kept beside it); {'xml', 'info'} or {'failed': reason}."""
    from semask.backends.openvino.quantize import QuantSpec, build
    from semask.core.errors import KitError

    out = Path(graph).with_name(Path(graph).stem + f"_int8_c{calib}_bench.json")
    started = time.perf_counter()
    try:
        info = build(QuantSpec(Path(graph), bins, single_input_batch(graph), calib, out))
    except KitError as exc:
        return {"failed": str(exc)}
    return {"xml": str(out.parent / info["xml"]), "info": {k: v for k, v in info.items() if k != "ignored_scope"},
            "seconds_this_call": round(time.perf_counter() - started, 1)}


def contenders(ort_graph: str, sim_graph: str | None, bf16: bool, int8_xml: str | None = None) -> dict:
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
    if int8_xml:
        found["ov_int8"] = Session(int8_xml, "int8")
    return found


def alternate(runners: dict, feed: dict, rounds: int) -> tuple[dict, dict]:
    """Warm-up (and labels), then `rounds` rounds running every contender in turn on the same input."""
    labels, times = {}, {k: [] for k in runners}
    for name, s in runners.items():
        labels[name] = s.run(None, feed)[0]
    for i in range(rounds):
        for name, s in runners.items():
            t = time.perf_counter()
            s.run(None, feed)
            times[name].append(time.perf_counter() - t)
        print(f"round {i + 1}/{rounds}: " + ", ".join(f"{k} {v[-1]:.2f} s" for k, v in times.items()), flush=True)
    return labels, times


def precision_ratios(times: dict, labels: dict) -> dict:
    """bf16 and int8 against OpenVINO fp32 (and int8 against bf16): per-round time ratios, equal labels."""
    out = {}
    for low, base in (("bf16", "fp32"), ("int8", "fp32"), ("int8", "bf16")):
        if f"ov_{low}" in times and f"ov_{base}" in times:
            out[f"{low}_time_vs_ov_{base}"] = ratios(times, f"ov_{low}", f"ov_{base}")
            out[f"{low}_labels_equal_to_ov_{base}"] = float((labels[f"ov_{low}"] == labels[f"ov_{base}"]).mean())
    return out


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
    p.add_argument("--height", type=int, default=1024, help="size of the exported graphs (without --ort-graph)")
    p.add_argument("--width", type=int, default=2048)
    p.add_argument("--bins", type=Path, default=None, help="a run's bins folder (calibration, SQNR frames); "
                   "default: make demo's synthetic frames at the bench's size")
    p.add_argument("--calib", type=int, default=8, help="int8 calibration frames (CALIB)")
    p.add_argument("--frames", type=int, default=4, help="frames of the logit SQNR")
    p.add_argument("--out", default=str(ROOT / "bench" / "out" / "openvino.json"))
    a = p.parse_args()
    import openvino
    import onnxruntime

    units, vnni = bf16_units(read_flags()), int8_units(read_flags())
    graphs = Path(a.out).parent / "graphs"
    if a.ort_graph is None:
        hw = (a.height, a.width)
        a.ort_graph, a.sim_graph = ensure_graph(graphs, "ort", 1, *hw), ensure_graph(graphs, "sim", 1, *hw)
        a.rss_graph = a.rss_graph or [a.ort_graph] + ([ensure_graph(graphs, "ort", 8, *hw)]
                                                      if mem_available_gb() >= a.rss_need_gb else [])
    spec, _ = single_input(a.ort_graph, single_input_batch(a.ort_graph))
    bins = a.bins or ensure_bins(graphs.parent, spec.shape[2], spec.shape[3], max(a.calib, a.frames, 8))
    irs = {g: int8_ir(g, bins, a.calib) for g in dict.fromkeys([a.ort_graph, *a.rss_graph])} if vnni else {}
    x = first_frame(bins, spec)
    runners = contenders(a.ort_graph, a.sim_graph, bool(units), irs.get(a.ort_graph, {}).get("xml"))
    labels, times = alternate(runners, {spec.name: x}, a.rounds)
    del runners
    result = {
        "cpu": cpu_model(), "cores": __import__("os").cpu_count(), "bf16_units": units, "int8_units": vnni,
        "int8_ir": irs, "bins": str(bins),
        "load_average": list(__import__("os").getloadavg()), "machine": platform.machine(),
        "openvino": openvino.__version__, "onnxruntime": onnxruntime.__version__,
        "graph": a.ort_graph, "sim_graph": a.sim_graph, "input_shape": list(spec.shape),
        "seconds": {k: v for k, v in times.items()},
        "time_vs_ort": {k: ratios(times, k, "ort") for k in times if k != "ort"},
        "labels_equal_to_ort": {k: float((v == labels["ort"]).mean()) for k, v in labels.items() if k != "ort"},
    }
    result.update(precision_ratios(times, labels))
    result["logit_sqnr_vs_ov_fp32"] = logit_sqnr(a.ort_graph, bins, a.frames, bool(units), irs.get(a.ort_graph, {}))
    result["peak_rss"] = [bare_peak(g, a.rss_need_gb, units, irs.get(g, {}).get("xml")) for g in a.rss_graph]
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(Path(a.out), result)
    print(json.dumps({k: result[k] for k in result if k not in ("seconds",)}, indent=1))
    return 0


def first_frame(bins: Path, spec) -> np.ndarray:
    """The bench's input: the first frames of `bins` at the graph's batch (real data, as the kit runs)."""
    from semask.backends.batching import first_frames

    return first_frames(bins, spec.shape[0], tuple(spec.shape), spec.dtype)[0][0]


def logit_sqnr(graph: str, bins: Path, frames: int, bf16: bool, ir: dict) -> dict:
    """bf16's and int8's logit SQNR and label agreement against OpenVINO fp32 (semask.backends.openvino.sqnr_check)."""
    from semask.backends.openvino.sqnr_check import SqnrSpec, compare

    out = {}
    bs = single_input_batch(graph)
    if bf16:
        out["bf16"] = compare(SqnrSpec(Path(graph), bins, bs, "bf16", frames=frames))
    if ir.get("xml"):
        out["int8"] = compare(SqnrSpec(Path(graph), bins, bs, "int8", model=Path(ir["xml"]), frames=frames))
    elif ir.get("failed"):
        out["int8"] = {"failed": ir["failed"]}
    for k, v in out.items():
        print(f"logit SQNR {k} vs OpenVINO fp32: {v.get('sqnr_db')} dB, labels {v.get('label_agreement')}", flush=True)
    return out


def single_input_batch(graph: str) -> int:
    from semask.model.onnx_io import onnx_io

    return onnx_io(graph)[0][0].shape[0]


def bare_peak(graph: str, need_gb: float, units: list, int8_xml: str | None = None) -> dict:
    """One fresh process per (runtime, precision): load `graph` (int8: its IR), run it once, report VmHWM."""
    bs = single_input_batch(graph)
    rows = []
    for runtime, precision in [("ort", "fp32"), ("openvino", "fp32")] + ([("openvino", "bf16")] if units else []) \
            + ([("openvino", "int8")] if int8_xml else []):
        free = mem_available_gb()
        if bs >= 8 and free < need_gb:
            rows.append({"runtime": runtime, "precision": precision, "skipped": f"MemAvailable {free:.1f} GB < {need_gb}"})
            continue
        started = time.perf_counter()
        proc = subprocess.run([sys.executable, "-c", CHILD, str(ROOT), runtime, graph, precision, int8_xml or ""],
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
