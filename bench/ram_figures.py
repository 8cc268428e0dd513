#!/usr/bin/env python3
"""Collect the per-step peak RSS of `make perf` runs into env/ram_measured.json (read by semask.run.ram).

    .venv/bin/python bench/ram_figures.py ARTIFACTS/perf/*.json [--out env/ram_measured.json]

Each perf JSON (semask.backends.ort.runtime.run_perf) carries `peak_rss_bytes` per step: export (trace), onnxsim,
verify (from the graph's sidecar) and perf (session + warm-up + timed runs). The runs must be of one
model and input size (SeMask-S 1024x2048 for the shipped file); each backend gets its steps by batch size.
"""
from __future__ import annotations

import argparse
import datetime
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

from semask.core.fsio import atomic_write_json  # noqa: E402
from semask.run.provenance import cpu_model  # noqa: E402
from semask.model.onnx_io import read_sidecar  # noqa: E402

STEPS = ("export", "onnxsim", "verify", "perf", "e2e")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("perf", nargs="+", type=Path)
    p.add_argument("--out", type=Path, default=ROOT / "env" / "ram_measured.json")
    a = p.parse_args()
    figures: dict = {}
    shape = None
    for path in a.perf:
        run = json.loads(path.read_text())
        side = read_sidecar(run["model"], "the perf JSON's model must still exist")
        this = (side["model"], side["height"], side["width"])
        if shape and this != shape:
            raise SystemExit(f"error: {path} is {this}, the others {shape}; give runs of one model and size")
        shape = this
        backend = {"onnxruntime": "ort"}.get(run["backend"], run["backend"])
        if run.get("precision") not in (None, "fp32"):
            backend += f"-{run['precision']}"
        # the graph's steps from its sidecar as it is now (a graph re-simplified after the perf run counts)
        steps = {**run["peak_rss_bytes"], **(side.get("peak_rss_bytes") or {})}
        for step, value in steps.items():
            if step in STEPS:
                figures.setdefault(backend, {}).setdefault(step, {})[str(run["batch_size"])] = value
    model, height, width = shape
    atomic_write_json(a.out, {
        "what": "peak RSS (bytes) of each step of `make perf` from an empty ARTIFACTS, per backend and batch "
                "size (semask.core.memory: VmHWM reset per step); export = trace, onnxsim and verify = the "
                "simplify step, perf = session load + warm-up + timed runs, e2e = the read-run-write pass",
        "model": model, "height": height, "width": width, "weights": "random", "cpu": cpu_model(),
        "date": datetime.date.today().isoformat(), "peak_rss_bytes": figures,
    })
    print(f"-> {a.out}: " + ", ".join(f"{b} bs{sorted(v['perf'])}" for b, v in figures.items() if "perf" in v))
    return 0


if __name__ == "__main__":
    sys.exit(main())
