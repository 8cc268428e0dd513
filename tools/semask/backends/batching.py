"""ais_bench's plan for turning a folder of per-image files into model batches.

Reproduces T-HEAD `io_oprations.py` so the ORT backend and ais_bench give the same files the
same batch slots: list *.bin/*.npy (no recursion), natural sort, files per batch = model input
bytes / first file's bytes (must divide exactly), pad the last batch with its own first file,
and write one output per real (non-padding) file named `<stem>_<i>.bin`.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from semask.core.errors import KitError
from semask.core.fsio import natural_key

#: Exactly the suffixes ais_bench keeps (`get_fileslist_from_dir`).
INPUT_SUFFIXES = (".bin", ".BIN", ".npy", ".NPY")


@dataclass(frozen=True)
class Batch:
    """One model run: `slots` holds a file per batch slot, None where ais_bench pads."""

    index: int
    slots: tuple[Path | None, ...]

    @property
    def real_files(self) -> list[Path]:
        return [p for p in self.slots if p is not None]

    @property
    def n_padding(self) -> int:
        return sum(1 for p in self.slots if p is None)


def list_input_files(folder: Path | str) -> list[Path]:
    """The *.bin/*.npy files directly in `folder` in ais_bench's (natural) order."""
    folder = Path(folder)
    if not folder.is_dir():
        raise KitError(f"input folder {folder} does not exist; run the preprocess step first or fix the path")
    names = [n for n in os.listdir(folder) if n.endswith(INPUT_SUFFIXES) and (folder / n).is_file()]
    names.sort(key=natural_key)
    if not names:
        raise KitError(f"input folder {folder} holds no .bin/.npy files; run the preprocess step first")
    return [folder / n for n in names]


def file_nbytes(path: Path) -> int:
    """Payload size as ais_bench counts it (.npy: array bytes, else file bytes)."""
    if path.suffix.lower() == ".npy":
        return int(np.load(path, mmap_mode="r").nbytes)
    return path.stat().st_size


def read_payload(path: Path) -> bytes:
    """Raw payload bytes of one input file (ais_bench reads .bin as int8 bytes, .npy via np.load)."""
    if path.suffix.lower() == ".npy":
        return np.ascontiguousarray(np.load(path)).tobytes()
    return path.read_bytes()


def files_per_batch(tensor_bytes: int, first_file: Path) -> int:
    """How many files fill one model input; refuses a size that does not divide (as ais_bench)."""
    size = file_nbytes(first_file)
    if size == 0 or tensor_bytes % size != 0:
        raise KitError(
            f"{first_file} has {size} bytes but the model input has {tensor_bytes} bytes, which is not a "
            "whole number of such files (ais_bench: 'tensorsize ... filesize ... not match'); "
            "regenerate the bins for this model's input size/dtype or export the model for these bins"
        )
    return tensor_bytes // size


def check_sizes(files: Sequence[Path], expected: int) -> None:
    """Refuse the run when any file's payload size differs from the first file's, naming it."""
    for path in files:
        size = file_nbytes(path)
        if size != expected:
            raise KitError(
                f"{path} has {size} bytes but {files[0].name} (and the model) need {expected}; "
                "remove or regenerate this file (bins of different sizes are mixed in one folder)"
            )


def check_unique_stems(files: Sequence[Path]) -> None:
    """Two inputs with the same stem would overwrite each other's outputs; refuse that."""
    seen: dict[str, Path] = {}
    for path in files:
        key = output_stem(path)
        if key in seen:
            raise KitError(f"{path} and {seen[key]} share the output stem {key!r}; rename one of them")
        seen[key] = path


def plan_batches(files: Sequence[Path], per_batch: int) -> list[Batch]:
    """Split `files` into runs of `per_batch`; the last one is padded (slot None), not dropped."""
    batches = []
    for index, start in enumerate(range(0, len(files), per_batch)):
        chunk: list[Path | None] = list(files[start:start + per_batch])
        chunk += [None] * (per_batch - len(chunk))
        batches.append(Batch(index, tuple(chunk)))
    return batches


def read_batch(batch: Batch) -> bytes:
    """Concatenate the batch's payloads; a padding slot repeats the batch's first file."""
    first = read_payload(batch.slots[0])  # slot 0 is always real
    parts = [first] + [first if p is None else read_payload(p) for p in batch.slots[1:]]
    return b"".join(parts)


def output_stem(path: Path | str) -> str:
    """ais_bench's output stem: basename up to the first dot."""
    return os.path.basename(str(path)).split(".")[0]


def output_name(path: Path | str, output_index: int) -> str:
    return f"{output_stem(path)}_{output_index}.bin"


def split_output(array: np.ndarray, per_batch: int, axis: int = 0) -> list[np.ndarray]:
    """Split one output tensor into one piece per batch slot (ais_bench `np.array_split`)."""
    if array.ndim == 0 or array.shape[axis] % per_batch != 0:
        raise KitError(
            f"output of shape {array.shape} cannot be split into {per_batch} per-file pieces along axis {axis} "
            "(ais_bench: 'save out files error'); export the model with the batch on axis 0"
        )
    return np.array_split(array, per_batch, axis=axis)


def first_frames(folder: Path | str, frames: int, shape: Sequence[int], dtype: object) -> list[tuple[np.ndarray, int]]:
    """(batch, real items) of the first `frames` per-image bins in natural order at the graph's `shape`; a
    partial last batch repeats its own first frames (measurements slice them off: `[:real]`)."""
    item = (1, *shape[1:])
    arrays = [np.frombuffer(read_payload(f), dtype=np.dtype(dtype)).reshape(item)  # type: ignore[call-overload]
              for f in list_input_files(folder)[:frames]]
    out = []
    for start in range(0, len(arrays), shape[0]):
        real = arrays[start:start + shape[0]]
        pad = [real[i % len(real)] for i in range(shape[0] - len(real))]
        out.append((np.concatenate(real + pad), len(real)))
    return out
