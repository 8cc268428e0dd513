"""ONNX Runtime pure-inference performance, reported the way ais_bench reports the NPU.

Why: the headline number must be comparable with `python -m ais_bench --loop N`, so throughput
is 1000*BS/mean(compute ms) over LOOP timed runs after warm-up. An optional end-to-end pass
(read bins, run, split, write outputs) shows what a user actually gets in images/s.
"""
from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from semask.runtime import batching
from semask.runtime import ais_summary as summary
from semask.runtime.ort import PROVIDERS, make_session, run_batch, single_input


def latency_block(times_ms: list[float]) -> dict[str, float]:
    """mean/p50/p90/p99/min/max of run times in ms."""
    arr = np.asarray(times_ms, dtype=np.float64)
    return {"mean": float(arr.mean()), "p50": float(np.percentile(arr, 50)), "p90": float(np.percentile(arr, 90)),
            "p99": float(np.percentile(arr, 99)), "min": float(arr.min()), "max": float(arr.max())}


def _e2e_pass(session: Any, spec: Any, files: list[Path], per_batch: int, scratch: Path) -> dict[str, Any]:
    """Read -> run -> split -> write for `files`; outputs go to `scratch` (deleted afterwards)."""
    start = time.perf_counter()
    for batch in batching.plan_batches(files, per_batch):
        outputs, _ = run_batch(session, spec, batching.read_batch(batch))
        for index, array in enumerate(outputs):
            for slot, piece in zip(batch.slots, batching.split_output(np.asarray(array), per_batch)):
                if slot is not None:
                    np.ascontiguousarray(piece).tofile(scratch / batching.output_name(slot, index))
    seconds = time.perf_counter() - start
    return {"images": len(files), "seconds": seconds, "images_per_s": len(files) / seconds if seconds > 0 else None}


def run_perf(
    model: Path | str,
    batch_size: int,
    loop: int | None,
    warmup: int = 1,
    provider: str = "cpu",
    device: int = 0,
    threads: int | None = None,
    input_dir: Path | str | None = None,
    scratch_parent: Path | str | None = None,
    budget_seconds: float = 60.0,
) -> dict[str, Any]:
    """Warm up, time LOOP runs on zero (or the first real) batch, then the optional e2e pass.

    loop=None fits the timed runs into `budget_seconds` (at least 3), from the warm-up's time; the
    estimate is printed before the timed runs start.
    """
    spec, _ = single_input(model, batch_size)
    files: list[Path] = []
    if input_dir is not None:
        files = batching.list_input_files(input_dir)
        per_batch = batching.files_per_batch(spec.nbytes, files[0])  # type: ignore[arg-type]
        batching.check_sizes(files, batching.file_nbytes(files[0]))
        payload = batching.read_batch(batching.plan_batches(files, per_batch)[0])
    else:
        per_batch = batch_size
        payload = bytes(spec.nbytes)  # type: ignore[arg-type]
    from semask.core.progress import Progress, loop_for_budget, perf_estimate_line

    session = make_session(model, provider, device, threads)
    warm_ms = [run_batch(session, spec, payload)[1] for _ in range(max(warmup, 1 if loop is None else 0))]
    per_run = (max(warm_ms) if warm_ms else 0.0) / 1000.0
    given = loop is not None
    loop = loop_for_budget(loop, per_run, budget_seconds)
    count = min(len(files), max(loop * per_batch, per_batch)) if files else 0
    if warm_ms:
        print(perf_estimate_line(f"bs{batch_size}", per_run, loop, given, budget_seconds,
                                 per_run * count / max(per_batch, 1)), flush=True)
    times = []
    with Progress(loop, f"perf bs{batch_size}", unit="run") as bar:
        for _ in range(loop):
            times.append(run_batch(session, spec, payload)[1])
            bar.update()

    e2e = None
    if files:
        scratch = Path(tempfile.mkdtemp(prefix=".perf-e2e-", dir=scratch_parent))
        try:
            e2e = _e2e_pass(session, spec, files[:count], per_batch, scratch)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    return {
        "backend": "onnxruntime",
        "provider": PROVIDERS[provider],
        "model": str(model),
        "batch_size": batch_size,
        "loop": loop,
        "loop_chosen_by": "LOOP" if given else f"PERF_SECONDS={budget_seconds:g}",
        "warmup": warmup,
        "threads": threads,
        "cpu_count": os.cpu_count(),
        "data": "real" if files else "zero",
        "throughput": summary.throughput(batch_size, times),
        "throughput_definition": "1000*batch_size/mean(compute_ms), as ais_bench",
        "latency_ms": latency_block(times),
        "compute_time_list": times,
        "e2e": e2e,
    }


def result_line(result: dict[str, Any]) -> str:
    """One human line for the console."""
    lat = result["latency_ms"]
    e2e = result.get("e2e")
    tail = f", e2e {e2e['images_per_s']:.2f} img/s over {e2e['images']} images" if e2e else ""
    return (f"perf {result['backend']}[{result.get('provider', result.get('device', ''))}] bs{result['batch_size']}: "
            f"throughput {result['throughput']:.2f} img/s, latency mean {lat['mean']:.2f} ms "
            f"p50 {lat['p50']:.2f} p99 {lat['p99']:.2f}{tail}")
