"""Images -> one raw NCHW `.bin` per frame (flat folder, as ais_bench reads it) + manifest.json last.

float32 bins reproduce upstream's test pipeline bit for bit: mmcv keep-ratio rescale toward
(W, H) with cv2 INTER_LINEAR (the identity for frames already H x W), then upstream's
normalisation (mmseg Normalize's float32 mean/std, mmcv.imnormalize's float64 arithmetic). That
arithmetic lives in `semask.data.normalise` as a (3, 256) table of every possible output value,
applied here with cv2.LUT: identical bits, a fraction of the cost. tests/test_preprocess.py proves
it against an independent transcription of upstream's arithmetic; `make crosscheck` against
upstream's own pipeline ("preprocess: bit-identical").
"""
from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path

import cv2
import numpy as np

from semask import spec
from semask.data.cityscapes import Frame, check_out_of_data_root, load_frames
from semask.data.normalise import normalise_table
from semask.core.errors import KitError
from semask.core.fsio import atomic_path, check_free_space, ensure_writable_dir
from semask.core.tempname import is_temp_name
from semask.data.resize import rescaled_size  # noqa: F401 (re-exported)
from semask.core.journal import JournaledManifest, code_fingerprint, is_verified, previous_records, run_journaled

DTYPES = {name: np.dtype(name) for name in spec.INPUT_DTYPES}
MANIFEST = "manifest.json"


_TABLE = normalise_table()


def fit(bgr: np.ndarray, target_h: int, target_w: int, name: str = "image") -> np.ndarray:
    """Upstream's keep-ratio Resize toward (W, H); KitError when the result is not exactly H x W."""
    h, w = bgr.shape[:2]
    if (h, w) == (target_h, target_w):
        return bgr
    nh, nw = rescaled_size(h, w, target_h, target_w)
    if (nh, nw) != (target_h, target_w):
        raise KitError(
            f"{name} is {h}x{w}; upstream's keep-ratio resize toward {target_h}x{target_w} gives {nh}x{nw}, "
            f"not the model input {target_h}x{target_w}; use frames with the aspect ratio of --height/--width"
        )
    return cv2.resize(bgr, (nw, nh), interpolation=cv2.INTER_LINEAR)


def to_nchw(bgr: np.ndarray, dtype: str) -> np.ndarray:
    """(1, 3, H, W) RGB: normalised float32 (upstream arithmetic) or raw uint8."""
    planes = cv2.split(bgr)
    out = np.empty((1, 3) + bgr.shape[:2], DTYPES[dtype])
    for c in range(3):  # RGB channel c is BGR plane 2 - c
        if dtype == "float32":
            cv2.LUT(planes[2 - c], _TABLE[c], dst=out[0, c])
        else:
            out[0, c] = planes[2 - c]
    return out


def decode_bgr(data: bytes) -> np.ndarray:
    """Decode like mmcv's LoadImageFromFile (cv2, colour flag, BGR order)."""
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR) if data else None
    if img is None:
        raise ValueError("cannot decode image")
    return img


def read_bgr(path: Path) -> np.ndarray:
    """`decode_bgr` of a file (read via Python so any path works)."""
    return decode_bgr(Path(path).read_bytes())


def write_all(fd: int, view: memoryview, chunk: int = 1 << 20) -> None:
    """Write every byte of `view` to the open descriptor with plain `chunk`-sized os.write calls.

    np.tofile on a 25 MB array measured several times slower than this loop (bench/bench_data.py
    times it bare, as the baseline of the preprocess step)."""
    for start in range(0, len(view), chunk):
        piece = view[start:start + chunk]
        while piece:
            piece = piece[os.write(fd, piece):]


def write_raw(path: Path, arr: np.ndarray, chunk: int = 1 << 20) -> str:
    """Write the array's bytes atomically with `write_all`; return their sha256 (one sha256 call over
    the whole buffer is faster than hashing chunk by chunk)."""
    view = memoryview(np.ascontiguousarray(arr)).cast("B")
    digest = hashlib.sha256(view).hexdigest()
    with atomic_path(path, sha256=digest) as tmp:
        fd = os.open(tmp, os.O_WRONLY | os.O_TRUNC)
        try:
            write_all(fd, view, chunk)
        finally:
            os.close(fd)
    return digest


def bin_name(frame: Frame) -> str:
    return f"{frame.stem}.bin"


def _make_bin(task: dict) -> dict:
    """Worker: write (or verify and keep) one bin; return its record or an error string."""
    src, out, prev = Path(task["source"]), Path(task["out"]), task["prev"]
    try:
        data = src.read_bytes()  # read once: hashed for the record and decoded
        src_sha = hashlib.sha256(data).hexdigest()
        if prev and prev.get("source_sha256") == src_sha and is_verified(out, prev.get("sha256"), task["bytes"]):
            return {**prev, "written": False}
        arr = to_nchw(fit(decode_bgr(data), task["height"], task["width"], str(src)), task["dtype"])
        digest = write_raw(out, arr)
    except KitError as exc:
        return {"key": task["key"], "error": str(exc)}
    except (OSError, ValueError, cv2.error) as exc:
        return {"key": task["key"], "error": f"{src}: {type(exc).__name__}: {exc}"}
    return {"key": task["key"], "source": task["rel"], "sha256": digest, "bytes": int(arr.nbytes),
            "source_sha256": src_sha, "written": True}


def preprocess(data_root: Path, out: Path, dtype: str = spec.DEFAULT_INPUT_DTYPE,
               size: tuple[int, int] = (spec.NATIVE_HEIGHT, spec.NATIVE_WIDTH),
               limit: int | None = None, jobs: int | None = None) -> dict:
    """Write the bins (`size`: height, width) for the first LIMIT frames (skipping verified ones), then
    manifest.json last."""
    height, width = size
    if dtype not in DTYPES:
        raise KitError(f"--dtype={dtype!r}: choose float32 or uint8")
    data_root, out = Path(data_root), Path(out)
    check_out_of_data_root(data_root, out)
    frames = load_frames(data_root, limit, None, need_labels=False)
    ensure_writable_dir(out, "bins output folder")
    per_file = 3 * height * width * np.dtype(DTYPES[dtype]).itemsize
    header = {"dtype": dtype, "shape": [1, 3, height, width], "height": height, "width": width,
              "data_root": str(data_root.resolve()), "code": code_fingerprint(*spec.step_code_files("bins"))}
    prev = previous_records(out, MANIFEST, header, "files", "name")
    names = {bin_name(f) for f in frames}
    _drop_stale(out, prev, names)
    needed = 0
    for frame in frames:
        existing = out / bin_name(frame)
        needed += 0 if existing.is_file() and existing.stat().st_size == per_file else per_file
    check_free_space(out, needed, "preprocess")
    tasks = [{"key": bin_name(f), "source": str(f.image), "rel": f.image.relative_to(data_root).as_posix(),
              "out": str(out / bin_name(f)), "dtype": dtype, "height": height, "width": width,
              "bytes": per_file, "prev": prev.get(bin_name(f))} for f in frames]
    return run_journaled(_make_bin, tasks, jobs, f"preprocess {dtype}", JournaledManifest(
        out=out, manifest=MANIFEST, header=header, items="files", entry=_manifest_entry,
        failure="{n} image(s) could not be preprocessed: {errors}"))


def _manifest_entry(rec: dict) -> dict:
    """The manifest keeps what a rerun needs to trust a file, not the worker's bookkeeping."""
    return {"name": rec["key"], "source": rec["source"], "sha256": rec["sha256"], "bytes": rec["bytes"],
            "source_sha256": rec["source_sha256"]}


def _drop_stale(out: Path, prev: dict[str, dict], keep: set[str]) -> None:
    """ais_bench reads every .bin in the folder: remove our own bins that the current selection dropped,
    and warn about foreign ones."""
    for path in out.glob(".*.tmp.bin"):  # `write_raw` temp files of a killed run: never renamed, maybe partial
        if is_temp_name(path.name):
            path.unlink(missing_ok=True)
    for name in list(prev):
        if name not in keep:
            (out / name).unlink(missing_ok=True)
            del prev[name]
    for path in out.glob("*.bin"):
        if path.name not in keep:
            print(f"warning: {path} is not from this preprocess run; ais_bench would read it too", file=sys.stderr)
