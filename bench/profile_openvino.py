#!/usr/bin/env python3
"""Where an OpenVINO precision spends its time: per-layer-type CPU time and the precision each layer ran at
(OpenVINO's PERF_COUNT), for fp32, bf16 and the int8 IR side by side on one input.

    .venv/bin/python bench/profile_openvino.py --graph X_ort.onnx [--int8-xml X_int8_c8_m....xml] \
        [--runs 3] [--out bench/out/profile.json]

Why: a precision that misses its speed target is reported with its profile, not hidden; the profile shows
which layer types stay in float (ignored scope, Softmax, LayerNorm/MVN, Interpolate) and what they cost.
"""
from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

import numpy as np  # noqa: E402

from semask.core.fsio import atomic_write_json  # noqa: E402
from semask.model.onnx_io import onnx_io  # noqa: E402


def profile(model: str, precision: str, feed: dict, runs: int) -> dict:
    """Summed real time (ms, mean over runs) per (layer type, exec precision) from OpenVINO's counters."""
    import openvino as ov

    from semask.spec import OV_PRECISION_HINTS

    compiled = ov.Core().compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": OV_PRECISION_HINTS[precision],
                                                       "PERFORMANCE_HINT": "LATENCY", "PERF_COUNT": True})
    request = compiled.create_infer_request()
    request.infer(feed)
    totals: dict = defaultdict(float)
    for _ in range(runs):
        request.infer(feed)
        for info in request.profiling_info:
            if info.status == info.Status.EXECUTED:
                totals[(info.node_type, info.exec_type.split("_")[-1])] += info.real_time.total_seconds() * 1000 / runs
    rows = sorted(({"type": t, "exec": e, "ms": round(ms, 1)} for (t, e), ms in totals.items()), key=lambda r: -r["ms"])
    return {"total_ms": round(sum(totals.values()), 1), "rows": rows}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--graph", required=True, help="the kit's *_ort.onnx")
    p.add_argument("--int8-xml", default=None, help="its int8 IR (.xml)")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--out", default=str(ROOT / "bench" / "out" / "profile.json"))
    a = p.parse_args()
    spec = onnx_io(a.graph)[0][0]
    feed = {spec.name: np.random.default_rng(0).standard_normal(spec.shape).astype(np.float32)}
    result = {"graph": a.graph, "int8_xml": a.int8_xml, "runs": a.runs}
    for name, model, precision in (("fp32", a.graph, "fp32"), ("bf16", a.graph, "bf16"), ("int8", a.int8_xml, "int8")):
        if model:
            result[name] = profile(model, precision, feed, a.runs)
            top = ", ".join(f"{r['type']}/{r['exec']} {r['ms']}" for r in result[name]["rows"][:8])
            print(f"{name}: {result[name]['total_ms']} ms per run; {top}", flush=True)
    atomic_write_json(Path(a.out), result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
