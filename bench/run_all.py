#!/usr/bin/env python3
"""`make bench`: run every benchmark in a fresh process, one after another (they each want both cores).

Each benchmark writes what it measured under --out; the figures are copied into bench/RESULTS.md
by hand after a quiet run, so RESULTS.md never holds numbers nobody measured.
"""
import argparse
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "out")
    p.add_argument("--images", type=int, default=500, help="images for the data benchmark")
    a = p.parse_args()
    a.out.mkdir(parents=True, exist_ok=True)
    steps = [
        [sys.executable, "bench/bench_model.py", "--out", str(a.out)],
        [sys.executable, "bench/bench_ort.py", "--out", str(a.out / "ort.json")],
        [sys.executable, "bench/bench_data.py", "--num", str(a.images)],
        [sys.executable, "bench/bench_verify.py", "--out", str(a.out)],
        [sys.executable, "bench/bench_openvino.py", "--out", str(a.out / "openvino.json")],
    ]
    failed = 0
    for cmd in steps:
        print("==>", " ".join(cmd), flush=True)
        failed += subprocess.run(cmd, cwd=ROOT).returncode != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
