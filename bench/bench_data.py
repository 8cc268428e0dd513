#!/usr/bin/env python3
"""Throughput and memory of the data steps on full-size (1024x2048) synthetic Cityscapes frames.

Measures, each through its real CLI in a subprocess (so startup and worker pools count):
  prepare labels   images/s                      (target >= 10/s)
  preprocess f32   images/s vs a bare loop that only decodes the PNG and writes its bytes with the
                   same worker count                (target ratio >= 60%)
  score (int32)    images/s and peak RSS of the whole process tree   (targets >= 50/s, <= 1 GB)
Writes bench/out/data.json; copy the figures into bench/RESULTS-data.md.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

from semask.data.bins import write_all  # noqa: E402
from semask.data.cityscapes import discover, select_first  # noqa: E402
from semask.core.parallel import imap  # noqa: E402
from semask.data.synthetic import make_synthetic  # noqa: E402

H, W = 1024, 2048


def run_measured(cmd: list[str]) -> dict:
    """Run a command; return wall seconds and the peak summed RSS of its process tree (sampled every 10 ms)."""
    os.sync()  # start every step with no dirty pages left over from the previous one
    load_before = os.getloadavg()[0]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = psutil.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            try:
                procs = [proc] + proc.children(recursive=True)
                total = 0
                for p in procs:
                    try:
                        total += p.memory_info().rss
                    except psutil.Error:
                        pass
                peak = max(peak, total)
            except psutil.Error:
                pass
            time.sleep(0.01)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    out, err = proc.communicate()
    done.set()
    thread.join()
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{err}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"seconds": round(seconds, 3), "cpu_seconds": round(cpu, 3), "peak_rss_mb": round(peak / 2**20, 1),
            "loadavg_1min_before": round(load_before, 2), "stdout": out.strip()}


def rates(n: int, r: dict, cores: int) -> dict:
    """Wall-clock images/s, plus the CPU-bound estimate n / (cpu_seconds / cores): the machine is shared,
    so wall time includes other users' load while CPU time does not."""
    return {"images_per_s": round(n / r["seconds"], 2), "images_per_s_cpu_bound_estimate": round(n * cores / max(r["cpu_seconds"], 1e-9), 2)}


def _bare(task: tuple[str, str]) -> int:
    """Baseline per image: decode the PNG and write the decoded bytes, nothing else."""
    src, dst = task
    img = cv2.imdecode(np.fromfile(src, np.uint8), cv2.IMREAD_COLOR)
    view = memoryview(img).cast("B")
    fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:  # the write loop preprocess uses, minus hashing and the atomic rename
        write_all(fd, view)
    finally:
        os.close(fd)
    return img.nbytes


def make_predictions(labels: Path, out: Path, num: int) -> None:
    """int32 predictions = ground truth with 10% noise, in a bare <stem>_0.bin folder."""
    manifest = json.loads((labels / "labels.json").read_text())
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 19, size=(H, W), dtype=np.int32)
    mask = rng.random((H, W)) < 0.1
    for entry in manifest["images"][:num]:
        gt = cv2.imread(str(labels / entry["label"]), cv2.IMREAD_UNCHANGED).astype(np.int32)
        pred = np.where(mask, noise, np.where(gt == 255, 0, gt)).astype(np.int32)
        pred.tofile(out / f"{entry['stem']}_leftImg8bit_0.bin")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--num", type=int, default=500)
    parser.add_argument("--work", type=Path, default=ROOT / "bench" / "out" / "data_work", help="scratch folder (large)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count())
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder")
    args = parser.parse_args()
    n, work, py = args.num, args.work, sys.executable
    data = work / "cityscapes"
    have = len(discover(data)[0]) if (data / "leftImg8bit").is_dir() else 0
    if have < n:
        print(f"making {n} synthetic {H}x{W} frames in {data} ...", flush=True)
        t = time.perf_counter()
        make_synthetic(data, n, (H, W), seed=0, jobs=args.jobs)
        print(f"  {time.perf_counter() - t:.1f}s", flush=True)
    jobs = ["--jobs", str(args.jobs)]
    results: dict = {"num_images": n, "height": H, "width": W, "jobs": args.jobs, "cpu_count": os.cpu_count(),
                     "machine": platform.machine(), "python": platform.python_version(),
                     "note": "synthetic PNGs (noisy, ~4 MB each); inputs warm in the page cache"}

    for sub in ("labels", "bins", "bare", "preds"):
        shutil.rmtree(work / sub, ignore_errors=True)
    print("prepare labels ...", flush=True)
    r = run_measured([py, "tools/prepare_cityscapes.py", "--data-root", str(data), "--out", str(work / "labels"),
                      "--limit", str(n)] + jobs)
    results["prepare"] = {**r, **rates(n, r, args.jobs), "target_images_per_s": 10}
    r = run_measured([py, "tools/prepare_cityscapes.py", "--data-root", str(data), "--out", str(work / "labels"),
                      "--limit", str(n)] + jobs)
    results["prepare_rerun_verified"] = {**r, **rates(n, r, args.jobs)}

    print("bare decode+write loop ...", flush=True)
    frames = select_first(discover(data)[0], n)
    (work / "bare").mkdir(parents=True)
    tasks = [(str(f.image), str(work / "bare" / f"{f.stem}.raw")) for f in frames]
    os.sync()
    t = time.perf_counter()
    cpu0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    for _ in imap(_bare, tasks, args.jobs, "bare"):
        pass
    bare_s = time.perf_counter() - t
    cpu1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    bare_cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    shutil.rmtree(work / "bare")
    print("preprocess float32 ...", flush=True)
    r = run_measured([py, "tools/preprocess.py", "--data-root", str(data), "--out", str(work / "bins"),
                      "--dtype", "float32", "--limit", str(n)] + jobs)
    pre_ips, bare_ips = n / r["seconds"], n / bare_s
    results["preprocess_float32"] = {**r, **rates(n, r, args.jobs), "bare_decode_write_images_per_s": round(bare_ips, 2),
                                     "bare_cpu_seconds": round(bare_cpu, 3), "ratio_vs_bare": round(pre_ips / bare_ips, 3),
                                     "cpu_ratio_vs_bare": round(bare_cpu / max(r["cpu_seconds"], 1e-9), 3), "target_ratio": 0.6}
    r = run_measured([py, "tools/preprocess.py", "--data-root", str(data), "--out", str(work / "bins"),
                      "--dtype", "float32", "--limit", str(n)] + jobs)
    results["preprocess_rerun_verified"] = {**r, **rates(n, r, args.jobs)}
    shutil.rmtree(work / "bins")

    print("score int32 ...", flush=True)
    make_predictions(work / "labels", work / "preds", n)
    r = run_measured([py, "tools/score.py", "--pred", str(work / "preds"), "--labels", str(work / "labels"),
                      "--label-dtype", "int32", "--out-json", str(work / "score.json")] + jobs)
    results["score_int32"] = {**r, **rates(n, r, args.jobs), "target_images_per_s": 50,
                              "target_peak_rss_mb": 1024}
    r1 = run_measured([py, "tools/score.py", "--pred", str(work / "preds"), "--labels", str(work / "labels"),
                       "--label-dtype", "int32", "--out-json", str(work / "score1.json"), "--jobs", "1"])
    results["score_int32_1job"] = {**r1, **rates(n, r1, 1)}

    out = ROOT / "bench" / "out" / "data.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))
    if not args.keep:
        for sub in ("labels", "preds"):
            shutil.rmtree(work / sub, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
