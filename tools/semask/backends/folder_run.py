"""The folder run and the perf loop of the backends that run a model in this process (ONNX Runtime,
OpenVINO): ais_bench's contract (batching, output layout, summary), and pure-inference performance
measured the way ais_bench measures the NPU.

Why: on machines without an Ascend NPU the kit still produces predictions in exactly the
layout the Ascend path produces, so the evaluation step does not care which backend ran.
The run is resumable: finished batches go to a journal (semask.core.journal) and are skipped
(after checking their output files) on the next run; the summary json is written last.
Both take a `Runtime` (how to open a session and how the run names itself), given by the backend's
room (semask.backends.ort.runtime.ort_runtime, semask.backends.openvino.runtime.openvino_runtime), so
neither backend imports the other.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from semask.core import manifest
from semask.core.errors import KitError
from semask.core.fsio import (atomic_write_bytes, atomic_write_json, check_free_space, ensure_writable_dir, sha256_bytes,
                              sha256_file)
from semask.core.journal import Journal
from semask.core.memory import measure_peak, memory_guard
from semask.core.tempname import temp_dir
from semask.backends.ascend import summary as summary
from semask.backends import batching
from semask.model.onnx_io import TensorSpec, single_input

# ---------------------------------------------------------------- batches

@dataclass(frozen=True)
class Runtime:
    """What runs a folder or a perf loop: how to open a session on a model file (an object with ORT's
    `run(None, feed) -> list of arrays`), and how results name it (summary, perf JSON, journal)."""

    backend: str                      # 'onnxruntime' | 'openvino'
    provider: str                     # ORT's provider name, or the OpenVINO device
    label: str                        # 'onnxruntime[cpu]': progress and log lines
    open: Callable[[Path], Any]
    facts: dict[str, Any] = field(default_factory=dict)  # what else changes the results (precision, ...)
    threads: int | None = None        # the intra-op threads asked for (None: the runtime's default)


def run_batch(session: Any, spec: TensorSpec, payload: bytes) -> tuple[list[np.ndarray], float]:
    """One session.run on a concatenated batch; returns outputs and the run time in ms."""
    feed = {spec.name: np.frombuffer(payload, dtype=spec.dtype).reshape(spec.shape)}
    start = time.perf_counter()
    outputs = session.run(None, feed)
    return outputs, (time.perf_counter() - start) * 1000.0


def write_batch_outputs(folder: Path, batch: batching.Batch, outputs: Sequence[np.ndarray],
                        per_batch: int) -> list[list[Any]]:
    """Split each output per image and write `<stem>_<i>.bin` (padding slots skipped, as ais_bench);
    returns [name, bytes, sha256] per written file."""
    written: list[list[Any]] = []
    for out_index, array in enumerate(outputs):
        for slot, piece in zip(batch.slots, batching.split_output(np.asarray(array), per_batch)):
            if slot is None:
                continue
            name = batching.output_name(slot, out_index)
            data = np.ascontiguousarray(piece).tobytes()
            atomic_write_bytes(folder / name, data)
            written.append([name, len(data), sha256_bytes(data)])
    return written


# ---------------------------------------------------------------- a folder of inputs, ais_bench style

@dataclass(frozen=True)
class BatchLayout:
    """What one run over a bins folder does: the model's input, its outputs, the files and batches."""

    spec: TensorSpec
    outputs: list[TensorSpec]
    files: list[Path]
    per_batch: int
    batches: list[batching.Batch]
    input_ids: dict[str, str]  # what identifies each input's content (bins-manifest sha256, or size + mtime)

    def batch_inputs(self, index: int) -> list[str]:
        """The input identities of batch `index`: a journaled batch is reused only for the same ones."""
        return [self.input_ids[f.name] for f in self.batches[index].real_files]


def plan_folder(model: Path, input_dir: Path | str, batch_size: int) -> BatchLayout:
    """Check the model against BS and the folder's files against the model input; plan ais_bench's batches."""
    spec, outputs = single_input(model, batch_size)
    files = batching.list_input_files(input_dir)
    per_batch = batching.files_per_batch(spec.nbytes, files[0])  # type: ignore[arg-type]
    batching.check_sizes(files, batching.file_nbytes(files[0]))
    batching.check_unique_stems(files)
    input_ids = _input_ids(files, manifest.verify_inputs(Path(input_dir), files))
    batches = batching.plan_batches(files, per_batch)
    print(f"[INFO] get filesperbatch files0 size:{batching.file_nbytes(files[0])} tensor0size:{spec.nbytes} "
          f"filesperbatch:{per_batch} runcount:{len(batches)}")
    return BatchLayout(spec, outputs, files, per_batch, batches, input_ids)


def _prepare_run_folder(plan: BatchLayout, output_dir: Path | str, dirname: str) -> tuple[Path, Path]:
    """Create OUT_DIR/NAME, drop a previous summary (a rerun must not look finished until it is) and
    .bin files this run does not produce; return (run folder, summary path)."""
    out_root = ensure_writable_dir(Path(output_dir))
    folder = ensure_writable_dir(out_root / dirname)
    summary_path = Path(os.path.join(str(output_dir), dirname) + "_summary.json")
    if summary_path.exists():
        summary_path.unlink()
    planned = {batching.output_name(f, i) for f in plan.files for i in range(len(plan.outputs))}
    stray = [p for p in folder.iterdir() if p.is_file() and p.suffix == ".bin" and p.name not in planned]
    if stray:  # another run's outputs would make this folder ambiguous for scoring
        print(f"[INFO] removing {len(stray)} .bin file(s) in {folder} that this run does not produce")
        for path in stray:
            path.unlink()
    return folder, summary_path


def _verified(record: dict[str, Any], folder: Path, inputs: list[str]) -> bool:
    """A journaled batch counts as done only if it ran on these inputs (sha256 from the bins manifest,
    or size + mtime without one) and each of its output files still has its recorded size and sha256."""
    if record.get("inputs") != inputs:
        return False
    for name, size, *sha in record["outfiles"]:
        path = folder / name
        if not path.is_file() or path.stat().st_size != size or (sha and sha256_file(path) != sha[0]):
            return False
    return True


def _input_ids(files: Sequence[Path], shas: dict[str, str] | None) -> dict[str, str]:
    """What identifies each input's content: its manifest sha256, or size + mtime when there is no manifest."""
    if shas is not None:
        return {f.name: shas[f.name] for f in files}
    return {f.name: f"{f.stat().st_size} {f.stat().st_mtime_ns}" for f in files}


def _fingerprint(model: Path, files: Sequence[Path], batch_size: int, provider: Any) -> dict[str, Any]:
    st = model.stat()
    # names, not absolute paths (a moved or copied ARTIFACTS tree still resumes): the batch plan; the
    # inputs' content is checked per batch (`_verified`), so a rewritten bin redoes only its batch
    names = hashlib.sha256("\n".join(f.name for f in files).encode()).hexdigest()
    return {"model": model.name, "model_size": st.st_size, "model_mtime_ns": st.st_mtime_ns,
            "inputs_sha256": names, "batch_size": batch_size, "provider": provider}


def _resume(journal: Journal, header: dict[str, Any], plan: BatchLayout, folder: Path) -> dict[int, dict[str, Any]]:
    """Start the journal, keeping the batches a previous run of the same configuration finished and whose
    outputs are still intact; return those records by batch index."""
    done = {i: r for i, r in journal.load(header).items()
            if isinstance(i, int) and i < len(plan.batches) and _verified(r, folder, plan.batch_inputs(i))}
    journal.start(header, done.values())
    if done:
        print(f"[INFO] resuming: {len(done)} of {len(plan.batches)} batches already done and verified in {folder}")
    return done


def out_bytes_per_file(outputs: Sequence[TensorSpec], per_batch: int) -> int | None:
    """Bytes written per input file (sum over outputs), or None when a shape is symbolic."""
    sizes = [o.nbytes for o in outputs]
    if any(s is None for s in sizes):
        return None
    return sum(sizes) // per_batch  # type: ignore[arg-type]


def _run_pending(session: Any, plan: BatchLayout, pending: list[batching.Batch], folder: Path, journal: Journal,
                 bar: Any, warmup: int) -> dict[int, dict[str, Any]]:
    """Warm up on the first pending batch, then run, write and journal each pending batch; records by index."""
    first = batching.read_batch(pending[0])
    for _ in range(warmup):
        run_batch(session, plan.spec, first)
    records: dict[int, dict[str, Any]] = {}
    for batch in pending:
        results, ms = run_batch(session, plan.spec, batching.read_batch(batch))
        written = write_batch_outputs(folder, batch, results, plan.per_batch)
        record = {"key": batch.index, "outfiles": written, "compute_ms": ms, "inputs": plan.batch_inputs(batch.index)}
        journal.add(record)
        records[batch.index] = record
        bar.update(len(batch.real_files))
    return records


def _filesinfo(plan: BatchLayout, input_dir: Path | str, prefix: str) -> dict[str, dict[str, list[str]]]:
    """ais_bench's filesinfo: per real slot (sample id) its input path and output paths, joined as it joins them."""
    info: dict[str, dict[str, list[str]]] = {}
    for batch in plan.batches:
        for j, slot in enumerate(batch.slots):
            if slot is None:
                continue
            info[str(batch.index * plan.per_batch + j)] = {
                "infiles": [os.path.join(str(input_dir), slot.name)],
                "outfiles": [os.path.join(prefix, batching.output_name(slot, i)) for i in range(len(plan.outputs))],
            }
    return info


@dataclass(frozen=True)
class FolderRun:
    """One folder run: every file of `input_dir` through `model`, `batch_size` at a time, into
    `output_dir`/`dirname` (`argv` is recorded in the summary; `weights` is the run's WEIGHTS or None)."""

    model: Path | str
    input_dir: Path | str
    output_dir: Path | str
    dirname: str
    batch_size: int
    warmup: int = 1
    argv: Sequence[str] = ()
    progress: bool = True
    weights: Any = None


def infer_folder(run: FolderRun, runtime: Runtime) -> dict[str, Any]:
    """Run every file of `run.input_dir` through the model, ais_bench style; returns the summary.

    The model is checked against its sidecar first (and against `run.weights`, the run's WEIGHTS, when
    given: then the sidecar is required); its identity goes into the summary as `model_identity`.
    `runtime` opens the session.
    """
    from semask.core.progress import Progress
    from semask.backends.model_check import verify_model

    model, input_dir, output_dir, dirname, batch_size = (Path(run.model), run.input_dir, run.output_dir, run.dirname,
                                                         run.batch_size)
    warmup, argv, progress, weights = run.warmup, run.argv, run.progress, run.weights
    identity = verify_model(model, weights, require_sidecar=weights is not None)
    plan = plan_folder(model, input_dir, batch_size)
    folder, summary_path = _prepare_run_folder(plan, output_dir, dirname)
    journal = Journal(Path(output_dir) / f".{dirname}.journal.jsonl")
    done = _resume(journal, _fingerprint(model, plan.files, batch_size, runtime.facts.get("fingerprint")), plan, folder)
    resumed = len(done)
    pending = [b for b in plan.batches if b.index not in done]
    per_file = out_bytes_per_file(plan.outputs, plan.per_batch)
    bar = Progress(len(plan.files), f"infer {runtime.label} bs{batch_size}",
                   initial=sum(len(plan.batches[i].real_files) for i in done), enabled=progress)
    peaks: dict[str, int] = {}
    try:
        if pending:
            if per_file is not None:
                check_free_space(folder, sum(len(b.real_files) for b in pending) * per_file, f"{runtime.backend} inference")
            with memory_guard(f"{runtime.backend} inference", batch_size), measure_peak("inference", peaks):
                session = runtime.open(model)
                done.update(_run_pending(session, plan, pending, folder, journal, bar, warmup))
                del session
    finally:
        bar.close()
        journal.close()
    facts = {k: v for k, v in runtime.facts.items() if k != "fingerprint"}
    result = summary.build_summary(
        _filesinfo(plan, input_dir, os.path.join(str(output_dir), dirname)), argv,
        [float(done[b.index]["compute_ms"]) for b in plan.batches], batch_size,
        extra={"provider": runtime.provider, "backend": runtime.backend, "resumed_batches": resumed, **facts,
               "model_identity": identity, "peak_rss_bytes": peaks},
    )
    for line in summary.summary_lines(result, batch_size):
        print(line)
    manifest.write_preds_manifest(folder, {name: (size, sha) for r in done.values() for name, size, sha in r["outfiles"]})
    atomic_write_json(summary_path, result)
    return result


# ---------------------------------------------------------------- performance (ais_bench's definition)

def _e2e_pass(session: Any, spec: TensorSpec, files: list[Path], per_batch: int, scratch: Path) -> dict[str, Any]:
    """Read -> run -> split -> write for `files`; outputs go to `scratch` (deleted afterwards)."""
    start = time.perf_counter()
    for batch in batching.plan_batches(files, per_batch):
        outputs, _ = run_batch(session, spec, batching.read_batch(batch))
        write_batch_outputs(scratch, batch, outputs, per_batch)
    seconds = time.perf_counter() - start
    return {"images": len(files), "seconds": seconds, "images_per_s": len(files) / seconds if seconds > 0 else None}


def run_perf(spec: Any, runtime: Runtime, warmup: int = 1) -> dict[str, Any]:
    """Warm up, time LOOP runs on zero (or the first real) batch, then the optional e2e pass.

    `spec` is a semask.backends.base.PerfSpec (model, batch size, loop, seconds, bins, weights; the
    e2e pass's scratch folder goes beside its out_json). loop=None fits the timed runs into its seconds
    (at least 3), from the warm-up's time; the estimate is printed before the timed runs start.

    Throughput is 1000*BS/mean(compute ms), as `ais_bench --loop N` reports the NPU, so the two
    backends' headline numbers compare; the e2e pass shows what a user actually gets in images/s.
    The model is checked as `infer_folder` checks it; its identity goes into the result.
    The result records the peak RSS of the timed part and of the e2e pass, beside the export steps'
    peaks from the model's sidecar.
    """
    from semask.backends.model_check import verify_model

    identity = verify_model(spec.model, spec.weights, require_sidecar=spec.weights is not None)
    with memory_guard(f"the {runtime.backend} perf run", spec.batch_size):
        return _run_perf(spec, warmup, identity, runtime)


def _perf_payload(spec: TensorSpec, input_dir: Path | str | None, batch_size: int) -> tuple[list[Path], int, bytes]:
    """(input files, files per batch, the timed batch): the first real batch, or zeros without input files."""
    if input_dir is None:
        return [], batch_size, bytes(spec.nbytes)  # type: ignore[arg-type]
    files = batching.list_input_files(input_dir)
    per_batch = batching.files_per_batch(spec.nbytes, files[0])  # type: ignore[arg-type]
    batching.check_sizes(files, batching.file_nbytes(files[0]))
    return files, per_batch, batching.read_batch(batching.plan_batches(files, per_batch)[0])


def _run_perf(run: Any, warmup: int, identity: dict[str, Any], runtime: Runtime) -> dict[str, Any]:
    model, batch_size, loop, input_dir, budget_seconds = run.model, run.batch_size, run.loop, run.bins_dir, run.seconds
    scratch_parent = Path(run.out_json).parent if run.out_json else None
    spec, _ = single_input(model, batch_size)
    files, per_batch, payload = _perf_payload(spec, input_dir, batch_size)
    from semask.core.progress import Progress, loop_for_budget, perf_estimate_line

    peaks: dict[str, int] = dict(_sidecar_peaks(model))
    with measure_peak("perf", peaks):
        session = runtime.open(Path(model))
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
        scratch = temp_dir(scratch_parent, ".perf-e2e-")
        try:
            with measure_peak("e2e", peaks):
                e2e = _e2e_pass(session, spec, files[:count], per_batch, scratch)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    facts = {k: v for k, v in runtime.facts.items() if k != "fingerprint"}
    return {
        "backend": runtime.backend,
        "provider": runtime.provider,
        **facts,
        "model": str(model),
        "model_identity": identity,
        "batch_size": batch_size,
        "loop": loop,
        "loop_chosen_by": "LOOP" if given else f"PERF_SECONDS={budget_seconds:g}",
        "warmup": warmup,
        "threads": runtime.threads,
        "cpu_count": os.cpu_count(),
        "data": "real" if files else "zero",
        "throughput": summary.throughput(batch_size, times),
        "throughput_definition": "1000*batch_size/mean(compute_ms), as ais_bench",
        "latency_ms": summary.latency_block(summary.time_stats(times, percentiles=(90, 99))),
        "compute_time_list": times,
        "e2e": e2e,
        "peak_rss_bytes": peaks,
        "peak_rss_steps": "export: trace; onnxsim, verify: the simplify step (from the model's sidecar); "
                          "perf: session load + warm-up + timed runs; e2e: the read-run-write pass",
    }


def _sidecar_peaks(model: Path | str) -> dict[str, int]:
    """The export steps' peak RSS recorded in the model's sidecar (none when it has no sidecar)."""
    from semask.model.onnx_io import sidecar_path

    try:
        import json

        peaks = json.loads(sidecar_path(model).read_text()).get("peak_rss_bytes") or {}
    except (OSError, ValueError, AttributeError):
        return {}
    return {k: int(v) for k, v in peaks.items() if isinstance(v, int)}


def result_line(result: dict[str, Any]) -> str:
    """One human line for the console."""
    lat = result["latency_ms"]
    e2e = result.get("e2e")
    tail = f", e2e {e2e['images_per_s']:.2f} img/s over {e2e['images']} images" if e2e else ""
    return (f"perf {result['backend']}[{result.get('provider', result.get('device', ''))}] bs{result['batch_size']}: "
            f"throughput {result['throughput']:.2f} img/s, latency mean {lat['mean']:.2f} ms "
            f"p50 {lat['p50']:.2f} p99 {lat['p99']:.2f}{tail}")
