#!/usr/bin/env python3
"""Benchmark the model side on CPU: export + simplify cost, graph facts, ORT vs PyTorch eager latency.

Each measurement runs in a fresh subprocess so its peak RSS is its own. Writes bench/out/model.json.
Targets (issue "Native SeMask-FPN"): export+simplify <= 60 s and <= 4 GB peak RSS; simplified graph
without Shape ops, <= 1600 nodes, <= 235 MB; ORT >= 1.4x faster than eager, <= 3.5 GB RSS at batch 1.
"""
from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def worker(kind: str, model: str, hw: tuple[int, int], onnx_path: str, runs: int, threads: int) -> dict:
    import numpy as np
    import torch

    torch.set_num_threads(threads)
    x = np.random.default_rng(0).standard_normal((1, 3, *hw), dtype=np.float32)
    if kind == "eager":
        from semask.model.checkpoint import load_weights
        from semask.model.network import build_model

        net = build_model(model)
        load_weights(net, "random", quiet=True)
        xt = torch.from_numpy(x)

        def call():
            with torch.no_grad():
                net(xt)
    else:
        from semask.model.ort_session import make_session

        sess = make_session(onnx_path, "cpu", threads=threads)

        def call():
            sess.run(None, {"image": x})
    call()  # warm-up
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        call()
        times.append(time.perf_counter() - t)
    return {"kind": kind, "hw": list(hw), "seconds": times, "median_s": statistics.median(times), "peak_rss_mb": _peak_rss_mb()}


def run_child(args: list[str]) -> dict:
    proc = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True, cwd=ROOT)
    if proc.returncode != 0:
        raise SystemExit(f"benchmark step failed: {' '.join(args)}\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def export_child(model: str, hw: tuple[int, int], out: Path) -> dict:
    """Export, then simplify + verify, as `make onnx` runs them: two timed children, the larger peak RSS."""
    raw = out.with_name(out.stem + "_raw.onnx")
    t, peak_kb = time.perf_counter(), 0
    for cmd in (["tools/export_onnx.py", "--model", model, "--weights", "random", "--height", str(hw[0]),
                 "--width", str(hw[1]), "--out", str(raw)],
                ["tools/simplify_onnx.py", "--onnx", str(raw), "--out", str(out)]):
        proc = subprocess.run(["/usr/bin/time", "-f", "%M", sys.executable, *cmd], capture_output=True, text=True,
                              cwd=ROOT)
        if proc.returncode != 0:
            raise SystemExit(proc.stderr[-3000:])
        peak_kb = max(peak_kb, int(proc.stderr.strip().splitlines()[-1]))
    wall = time.perf_counter() - t
    side = json.loads(out.with_suffix(".json").read_text())
    return {"hw": list(hw), "wall_s": round(wall, 1), "peak_rss_mb": round(peak_kb / 1024), "nodes": side["nodes"],
            "bytes": side["bytes"], "top_ops": dict(list(side["ops"].items())[:12]), "shape_ops": side["ops"].get("Shape", 0),
            "verification": side["verification"]}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--worker", choices=["eager", "ort"])
    p.add_argument("--model", default="small")
    p.add_argument("--hw", default="1024x2048")
    p.add_argument("--onnx", default="")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--sizes", default="1024x2048,512x1024")
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "out")
    a = p.parse_args()
    if a.worker:
        hw = tuple(int(v) for v in a.hw.split("x"))
        print(json.dumps(worker(a.worker, a.model, hw, a.onnx, a.runs, a.threads)))
        return
    a.out.mkdir(parents=True, exist_ok=True)
    results = {"model": a.model, "weights": "random", "threads": a.threads, "runs": a.runs, "sizes": {}}
    for size in a.sizes.split(","):
        hw = tuple(int(v) for v in size.split("x"))
        onnx_path = a.out / f"bench_{a.model}_{size}.onnx"
        entry = {"export": export_child(a.model, hw, onnx_path)}
        common = ["--model", a.model, "--hw", size, "--runs", str(a.runs), "--threads", str(a.threads)]
        entry["eager"] = run_child(["--worker", "eager", *common])
        entry["ort"] = run_child(["--worker", "ort", "--onnx", str(onnx_path), *common])
        entry["ort_speedup"] = round(entry["eager"]["median_s"] / entry["ort"]["median_s"], 2)
        results["sizes"][size] = entry
        print(json.dumps({size: {"export_s": entry["export"]["wall_s"], "export_rss_mb": entry["export"]["peak_rss_mb"],
                                 "nodes": entry["export"]["nodes"], "MB": round(entry["export"]["bytes"] / 1e6, 1),
                                 "eager_s": round(entry["eager"]["median_s"], 2), "ort_s": round(entry["ort"]["median_s"], 2),
                                 "speedup": entry["ort_speedup"], "ort_rss_mb": round(entry["ort"]["peak_rss_mb"]),
                                 "eager_rss_mb": round(entry["eager"]["peak_rss_mb"])}}), flush=True)
        for f in (onnx_path, onnx_path.with_suffix(".json"), onnx_path.with_name(onnx_path.stem + "_raw.onnx"),
                  onnx_path.with_name(onnx_path.stem + "_raw.json")):
            f.unlink(missing_ok=True)
    (a.out / "model.json").write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
