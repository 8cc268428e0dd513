"""ONNX Runtime backend that keeps ais_bench's contract (batching, output layout, summary).

Why: on machines without an Ascend NPU the kit still produces predictions in exactly the
layout the Ascend path produces, so the evaluation step does not care which backend ran.
The run is resumable: finished batches go to a journal and are skipped (after checking their
output files) on the next run; the summary json is written last.
"""
from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from semask.runtime import batching
from semask.runtime import ais_summary as summary
from semask.core.errors import KitError
from semask.spec import ORT_PROVIDERS
from semask.core import manifest
from semask.core.fsio import (atomic_write_bytes, atomic_write_json, check_free_space, ensure_writable_dir, sha256_bytes,
                              sha256_file)

# the kit's provider names (semask.spec.ORT_PROVIDERS) -> ORT's
PROVIDERS = {name: f"{name.upper()}ExecutionProvider" for name in ORT_PROVIDERS}
PROVIDER_PACKAGES = {"cpu": "onnxruntime", "cuda": "onnxruntime-gpu", "cann": "onnxruntime-cann"}


@dataclass(frozen=True)
class TensorSpec:
    """Name, static shape (None for a symbolic dim) and numpy dtype of a model input/output."""

    name: str
    shape: tuple[int | None, ...]
    dtype: np.dtype

    @property
    def nbytes(self) -> int | None:
        if any(d is None for d in self.shape):
            return None
        return int(np.prod(self.shape, dtype=np.int64)) * self.dtype.itemsize


def _spec(value_info: Any) -> TensorSpec:
    from onnx import helper

    ttype = value_info.type.tensor_type
    dims = tuple(d.dim_value if d.HasField("dim_value") else None for d in ttype.shape.dim)
    return TensorSpec(value_info.name, dims, np.dtype(helper.tensor_dtype_to_np_dtype(ttype.elem_type)))


def onnx_io(model: Path | str) -> tuple[list[TensorSpec], list[TensorSpec]]:
    """Graph inputs (minus initializers) and outputs of an ONNX file, without its weights' data."""
    import onnx

    model = Path(model)
    if not model.is_file():
        raise KitError(f"ONNX model {model} does not exist; run the export step first")
    try:
        proto = onnx.load(str(model), load_external_data=False)
    except Exception as exc:  # protobuf decode errors have no common type
        raise KitError(f"cannot read ONNX model {model}: {exc}; re-export it") from None
    inits = {i.name for i in proto.graph.initializer}
    inputs = [_spec(v) for v in proto.graph.input if v.name not in inits]
    outputs = [_spec(v) for v in proto.graph.output]
    return inputs, outputs


def single_input(model: Path | str, batch_size: int) -> tuple[TensorSpec, list[TensorSpec]]:
    """The model's one input, checked against `batch_size` (static batch dim required)."""
    inputs, outputs = onnx_io(model)
    if len(inputs) != 1:
        raise KitError(f"{model} has {len(inputs)} inputs ({[i.name for i in inputs]}); the kit expects one (image)")
    spec = inputs[0]
    if not spec.shape or spec.shape[0] != batch_size or spec.nbytes is None:
        raise KitError(
            f"{model} input {spec.name!r} has shape {list(spec.shape)} but BATCH_SIZE={batch_size}; "
            f"export an ONNX for batch size {batch_size} (one static-shape model per batch size) or fix BATCH_SIZE"
        )
    return spec, outputs


def provider_entry(provider: str, device: int) -> tuple[str, dict[str, Any]]:
    """Map the kit's provider name to ORT's provider name + options; refuse one not installed."""
    import onnxruntime as ort

    if provider not in PROVIDERS:
        raise KitError(f"ORT_PROVIDER={provider!r} is not one of {sorted(PROVIDERS)}")
    name = PROVIDERS[provider]
    available = ort.get_available_providers()
    if name not in available:
        raise KitError(
            f"ORT_PROVIDER={provider}: {name} is not available in the installed onnxruntime {ort.__version__} "
            f"(available: {', '.join(available)}); install {PROVIDER_PACKAGES[provider]} instead of onnxruntime "
            f"(.venv/bin/pip uninstall -y onnxruntime && .venv/bin/pip install {PROVIDER_PACKAGES[provider]}) "
            "or use ORT_PROVIDER=cpu"
        )
    options: dict[str, Any] = {"device_id": device} if provider in ("cuda", "cann") else {}
    return name, options


def make_session(model: Path | str, provider: str = "cpu", device: int = 0, threads: int | None = None) -> Any:
    """An InferenceSession on the requested provider; refuses a silent fallback to CPU."""
    import onnxruntime as ort

    name, options = provider_entry(provider, device)
    opts = ort.SessionOptions()
    if threads:
        opts.intra_op_num_threads = threads
    providers: list[Any] = [(name, options)]
    if name != "CPUExecutionProvider":
        providers.append("CPUExecutionProvider")
    try:
        session = ort.InferenceSession(str(model), sess_options=opts, providers=providers)
    except Exception as exc:  # ORT raises its own Fail/InvalidGraph types
        raise KitError(f"onnxruntime cannot load {model} with {name}: {exc}") from None
    if session.get_providers()[0] != name:
        raise KitError(
            f"ORT_PROVIDER={provider}: onnxruntime fell back to {session.get_providers()[0]} "
            f"(is the {provider.upper()} runtime installed and device {device} visible?); use ORT_PROVIDER=cpu"
        )
    return session


def run_batch(session: Any, spec: TensorSpec, payload: bytes) -> tuple[list[np.ndarray], float]:
    """One session.run on a concatenated batch; returns outputs and the run time in ms."""
    feed = {spec.name: np.frombuffer(payload, dtype=spec.dtype).reshape(spec.shape)}
    start = time.perf_counter()
    outputs = session.run(None, feed)
    return outputs, (time.perf_counter() - start) * 1000.0


class Journal:
    """Append-only record of finished batches, tied to one run configuration (fingerprint)."""

    def __init__(self, path: Path, fingerprint: dict[str, Any]):
        self.path = path
        self.fingerprint = fingerprint

    def load(self) -> dict[int, dict[str, Any]]:
        """Finished batches from a previous run of the same configuration ({} otherwise)."""
        if not self.path.exists():
            return {}
        records: dict[int, dict[str, Any]] = {}
        with open(self.path, encoding="utf-8") as fh:
            lines = fh.read().splitlines()
        try:
            head = json.loads(lines[0]) if lines else None
        except json.JSONDecodeError:
            head = None
        if head != {"fingerprint": self.fingerprint}:
            return {}
        for line in lines[1:]:
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:  # torn last line of a killed run
                continue
            records[int(rec["batch"])] = rec
        return records

    def start(self, keep: bool) -> None:
        """Begin a journal (keeping the old records when resuming the same configuration)."""
        if keep and self.path.exists():
            return
        atomic_write_bytes(self.path, (json.dumps({"fingerprint": self.fingerprint}) + "\n").encode())

    def append(self, record: dict[str, Any]) -> None:
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(record) + "\n")
            fh.flush()
            os.fsync(fh.fileno())


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


def _fingerprint(model: Path, files: Sequence[Path], batch_size: int, provider: str) -> dict[str, Any]:
    st = model.stat()
    # names, not absolute paths (a moved or copied ARTIFACTS tree still resumes): the batch plan; the
    # inputs' content is checked per batch (`_verified`), so a rewritten bin redoes only its batch
    names = hashlib.sha256("\n".join(f.name for f in files).encode()).hexdigest()
    return {"model": model.name, "model_size": st.st_size, "model_mtime_ns": st.st_mtime_ns,
            "inputs_sha256": names, "batch_size": batch_size, "provider": provider}


def out_bytes_per_file(outputs: Sequence[TensorSpec], per_batch: int) -> int | None:
    """Bytes written per input file (sum over outputs), or None when a shape is symbolic."""
    sizes = [o.nbytes for o in outputs]
    if any(s is None for s in sizes):
        return None
    return sum(sizes) // per_batch  # type: ignore[arg-type]


def infer_folder(
    model: Path | str,
    input_dir: Path | str,
    output_dir: Path | str,
    dirname: str,
    batch_size: int,
    provider: str = "cpu",
    device: int = 0,
    threads: int | None = None,
    warmup: int = 1,
    argv: Sequence[str] = (),
    progress: bool = True,
) -> dict[str, Any]:
    """Run every file of `input_dir` through the model, ais_bench style; returns the summary."""
    model = Path(model)
    spec, outputs = single_input(model, batch_size)
    files = batching.list_input_files(input_dir)
    per_batch = batching.files_per_batch(spec.nbytes, files[0])  # type: ignore[arg-type]
    batching.check_sizes(files, batching.file_nbytes(files[0]))
    batching.check_unique_stems(files)
    input_ids = _input_ids(files, manifest.verify_inputs(Path(input_dir), files))
    batches = batching.plan_batches(files, per_batch)
    print(f"[INFO] get filesperbatch files0 size:{batching.file_nbytes(files[0])} tensor0size:{spec.nbytes} "
          f"filesperbatch:{per_batch} runcount:{len(batches)}")

    out_root = ensure_writable_dir(Path(output_dir))
    folder = ensure_writable_dir(out_root / dirname)
    prefix = os.path.join(str(output_dir), dirname)
    summary_path = Path(prefix + "_summary.json")
    if summary_path.exists():  # a rerun must not look finished until it is
        summary_path.unlink()

    planned = {batching.output_name(f, i) for f in files for i in range(len(outputs))}
    stray = [p for p in folder.iterdir() if p.is_file() and p.suffix == ".bin" and p.name not in planned]
    if stray:  # another run's outputs would make this folder ambiguous for scoring
        print(f"[INFO] removing {len(stray)} .bin file(s) in {folder} that this run does not produce")
        for path in stray:
            path.unlink()

    journal = Journal(out_root / f".{dirname}.journal.jsonl", _fingerprint(model, files, batch_size, provider))
    previous = journal.load()
    batch_inputs = {b.index: [input_ids[f.name] for f in b.real_files] for b in batches}
    done = {i: r for i, r in previous.items() if i < len(batches) and _verified(r, folder, batch_inputs[i])}
    journal.start(keep=bool(previous))
    pending = [b for b in batches if b.index not in done]
    resumed = len(done)
    if done:
        print(f"[INFO] resuming: {len(done)} of {len(batches)} batches already done and verified in {folder}")

    per_file = out_bytes_per_file(outputs, per_batch)
    if per_file is not None and pending:
        check_free_space(folder, sum(len(b.real_files) for b in pending) * per_file, "onnxruntime inference")

    from tqdm import tqdm

    session = make_session(model, provider, device, threads) if pending else None
    if session is not None:
        first = batching.read_batch(pending[0])
        for _ in range(warmup):
            run_batch(session, spec, first)
    bar = tqdm(total=len(files), initial=sum(len(batches[i].real_files) for i in done), unit="img",
               desc=f"onnxruntime[{provider}] bs{batch_size}", disable=not progress, dynamic_ncols=True)
    compute: dict[int, float] = {i: float(r["compute_ms"]) for i, r in done.items()}
    try:
        for batch in pending:
            results, ms = run_batch(session, spec, batching.read_batch(batch))
            written = []
            for out_index, array in enumerate(results):
                pieces = batching.split_output(np.asarray(array), per_batch)
                for slot, piece in zip(batch.slots, pieces):
                    if slot is None:  # padding slot: ais_bench skips its output
                        continue
                    name = batching.output_name(slot, out_index)
                    data = np.ascontiguousarray(piece).tobytes()
                    atomic_write_bytes(folder / name, data)
                    written.append([name, len(data), sha256_bytes(data)])
            record = {"batch": batch.index, "outfiles": written, "compute_ms": ms, "inputs": batch_inputs[batch.index]}
            journal.append(record)
            done[batch.index] = record
            compute[batch.index] = ms
            bar.update(len(batch.real_files))
    finally:
        bar.close()

    filesinfo: dict[str, dict[str, list[str]]] = {}
    n_out = len(outputs)
    for batch in batches:
        for j, slot in enumerate(batch.slots):
            if slot is None:
                continue
            filesinfo[str(batch.index * per_batch + j)] = {
                "infiles": [os.path.join(str(input_dir), slot.name)],
                "outfiles": [os.path.join(prefix, batching.output_name(slot, i)) for i in range(n_out)],
            }
    times = [compute[b.index] for b in batches]
    result = summary.build_summary(
        filesinfo, argv, times, batch_size,
        extra={"provider": PROVIDERS[provider], "backend": "onnxruntime", "resumed_batches": resumed},
    )
    for line in summary.summary_lines(result, batch_size):
        print(line)
    manifest.write_preds_manifest(folder, {name: (size, sha) for r in done.values() for name, size, sha in r["outfiles"]})
    atomic_write_json(summary_path, result)
    return result
