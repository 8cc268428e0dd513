"""PRECISION=int8: NNCF post-training quantisation of the kit's ORT graph into an OpenVINO IR.

Why: OpenVINO's int8 kernels use VNNI (avx512_vnni, AVX-VNNI, AMX-INT8), which doubles the peak over
bf16 and exists on CPUs without bf16 units. NNCF's published Swin results hold with model_type
TRANSFORMER and SmoothQuant off (Swin-B: -0.06..-0.09 top-1; 1.7 lost with SmoothQuant on); the
classifier, the semantic-attention Softmax and what follows the logits (Resize, ArgMax) stay unquantised.

Calibration uses the run's own preprocessed bins: the first CALIB frames in natural order (all when
fewer), grouped into the graph's static batch (a partial last batch is filled from the first frames).

The IR is an artifact like the ONNX. Its sidecar (`<stem>_int8_c<N>_<data>_<limit>.json`, make's target,
named at parse time) records the calibration set's identity (the bins manifest's sha256 and N), the
source ONNX's sha256 and the IR's sha256s; the IR files' names carry N and the manifest's sha256
(`<stem>_int8_c<N>_m<sha8>.xml/.bin`). The IR is written under temporary names and renamed, and the
sidecar is written last, so an interrupted run leaves nothing that is taken as done; `resolve_ir`
re-hashes everything before each use.
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from semask.core.errors import KitError
from semask.core import ledger
from semask.core.fsio import atomic_write_json, natural_key, sha256_file
from semask.core.tempname import temp_name
from semask.core.manifest import BINS_MANIFEST, input_records
from semask.backends.openvino.ir import KIND, resolve_ir
from semask.model.logits import logits_tail



@dataclass(frozen=True)
class QuantSpec:
    """One quantisation: the fp32 graph, the run's bins, its batch size, CALIB and the sidecar to write."""

    onnx: Path
    bins_dir: Path
    batch_size: int
    calib: int
    out: Path  # the sidecar JSON (make's target); the IR goes beside it


def calibration_set(bins_dir: Path, calib: int) -> tuple[list[Path], str]:
    """The first `calib` bins in natural order (all when fewer) and the bins manifest's sha256."""
    manifest = Path(bins_dir) / BINS_MANIFEST
    records = input_records(Path(bins_dir))
    if records is None:
        raise KitError(f"PRECISION=int8 calibrates on the run's bins, but {manifest} is missing; run `make bins`")
    names = sorted(records, key=natural_key)[:calib]
    if not names:
        raise KitError(f"{manifest} lists no bins; run `make bins` again")
    return [Path(bins_dir) / n for n in names], sha256_file(manifest)


def ir_names(out: Path, calib_frames: int, manifest_sha: str) -> tuple[Path, Path]:
    """The IR's .xml and .bin beside the sidecar: the stem, N and the manifest's sha256 prefix."""
    stem = out.name.split("_int8_c", 1)[0]
    base = out.parent / f"{stem}_int8_c{calib_frames}_m{manifest_sha[:8]}"
    return base.with_suffix(".xml"), base.with_suffix(".bin")


class CalibrationBatches:
    """Re-iterable batches of the calibration frames at the graph's batch size (NNCF reads them twice)."""

    def __init__(self, files: list[Path], shape: tuple[int, ...], dtype: Any):
        self.files, self.shape, self.dtype = files, shape, np.dtype(dtype)
        self.batch = shape[0]

    def __len__(self) -> int:
        return -(-len(self.files) // self.batch)

    def __iter__(self) -> Iterator[np.ndarray]:
        item = (1, *self.shape[1:])
        for start in range(0, len(self.files), self.batch):
            picked = [self.files[(start + i) % len(self.files)] for i in range(self.batch)]
            yield np.concatenate([np.fromfile(f, dtype=self.dtype).reshape(item) for f in picked])


def ignored_names(ov_model: Any, graph: Any) -> list[str]:
    """OpenVINO op names to leave in float: the classifier, every Softmax outside the fused attention
    (the semantic attention's), and every op after the logits (Resize, ArgMax's TopK/Squeeze/Convert)."""
    tail = logits_tail(graph)
    onnx_names = {tail.classifier, *tail.tail, *(n.name for n in graph.node if n.op_type == "Softmax")}
    names = set()
    for op in ov_model.get_ordered_ops():
        name = op.get_friendly_name()
        if name in onnx_names or any(name.startswith(n + "/") for n in onnx_names):
            names.add(name)
    start = [op for op in ov_model.get_ordered_ops()
             if any(tail.tensor in out.get_names() for out in op.outputs())]
    if not start:
        raise KitError(f"OpenVINO's model has no tensor {tail.tensor} (the logits); this is a kit bug")
    todo = list(start)
    while todo:  # everything downstream of the logits
        op = todo.pop()
        for out in op.outputs():
            for target in out.get_target_inputs():
                node = target.get_node()
                if node.get_type_name() != "Result" and node.get_friendly_name() not in names:
                    names.add(node.get_friendly_name())
                    todo.append(node)
    return sorted(names)


def _sidecar_ok(spec: QuantSpec, onnx_sha: str, manifest_sha: str, frames: int) -> bool:
    """An existing sidecar describes this very quantisation and its IR files are intact."""
    try:
        info = json.loads(spec.out.read_text())
        resolve_ir(spec.out, spec.onnx, info=info)
    except (OSError, ValueError, KitError):
        return False
    return (info.get("onnx_sha256"), info.get("bins_manifest_sha256"), info.get("calib_frames"),
            info.get("batch_size")) == (onnx_sha, manifest_sha, frames, spec.batch_size)


def quantize(spec: QuantSpec) -> dict[str, Any]:
    """Quantise the int8 IR of `spec` (written under its final names); returns its sidecar, not yet published."""
    try:
        import nncf
    except ImportError:
        raise KitError("PRECISION=int8 needs the nncf package, which this Python lacks; run `make env` (or "
                       "`.venv/bin/pip install -r env/requirements.txt`)") from None
    import openvino as ov
    import onnx

    from semask.model.onnx_io import single_input

    files, manifest_sha = calibration_set(spec.bins_dir, spec.calib)
    onnx_sha = sha256_file(spec.onnx)
    xml, binf = ir_names(spec.out, len(files), manifest_sha)
    _remove_previous(spec.out, xml.stem)  # from here on the old IR is not done
    tensor, _ = single_input(spec.onnx, spec.batch_size)
    graph = onnx.load(str(spec.onnx), load_external_data=False).graph
    model = ov.Core().read_model(str(spec.onnx))
    ignored = ignored_names(model, graph)
    batches = CalibrationBatches(files, tuple(tensor.shape), tensor.dtype)
    started = time.monotonic()
    print(f"[quantize] NNCF {nncf.__version__}: {len(files)} calibration frames ({len(batches)} batches of "
          f"{spec.batch_size}), model_type=TRANSFORMER, SmoothQuant off, {len(ignored)} ops ignored", flush=True)
    quantized = nncf.quantize(
        model, nncf.Dataset(batches, lambda x: {tensor.name: x}), subset_size=len(batches),
        model_type=nncf.ModelType.TRANSFORMER, ignored_scope=nncf.IgnoredScope(names=ignored),
        advanced_parameters=nncf.AdvancedQuantizationParameters(
            smooth_quant_alphas=nncf.AdvancedSmoothQuantParameters(convolution=-1, matmul=-1)))
    seconds = time.monotonic() - started
    tmp_xml = xml.with_name(temp_name(f".{xml.stem}.", ".tmp.xml"))  # a kit temp name: `make clean` knows it
    try:
        ov.save_model(quantized, str(tmp_xml), compress_to_fp16=False)
        os.replace(tmp_xml.with_suffix(".bin"), binf)
        os.replace(tmp_xml, xml)
        for done in (binf, xml):  # OpenVINO wrote them, not fsio: the ledger learns of them here
            ledger.record(done)
    finally:
        tmp_xml.unlink(missing_ok=True)
        tmp_xml.with_suffix(".bin").unlink(missing_ok=True)
    info = {"kind": KIND, "xml": xml.name, "bin": binf.name, "xml_sha256": sha256_file(xml),
            "bin_sha256": sha256_file(binf), "onnx": spec.onnx.name, "onnx_sha256": onnx_sha,
            "bins_manifest_sha256": manifest_sha, "calib_frames": len(files), "calib_asked": spec.calib,
            "calib_files": [f.name for f in files], "batch_size": spec.batch_size, "nncf": nncf.__version__,
            "openvino": ov.__version__.split("-")[0], "model_type": "transformer", "smooth_quant": "off",
            "ignored_scope": ignored, "calibration_seconds": round(seconds, 1)}
    return info


def build(spec: QuantSpec, cpuinfo: Path | str = "/proc/cpuinfo") -> dict[str, Any]:
    """The int8 IR of `spec`, quantised unless an intact one of the same calibration set exists; its logit
    SQNR against fp32 must reach the kit's floor before the sidecar is published (then it counts as done)."""
    from semask.core.cpuflags import precision_problem
    from semask.backends.openvino.sqnr_check import SqnrSpec, compare, line, refuse_below_floor

    problem = precision_problem(["int8"], cpuinfo)
    if problem:
        raise KitError(problem)
    files, manifest_sha = calibration_set(spec.bins_dir, spec.calib)
    if _sidecar_ok(spec, sha256_file(spec.onnx), manifest_sha, len(files)):
        print(f"[quantize] {spec.out.name}: up to date (IR verified against its sidecar)")
        return json.loads(spec.out.read_text())
    info = quantize(spec)
    result = compare(SqnrSpec(spec.onnx, spec.bins_dir, spec.batch_size, "int8", model=spec.out.parent / info["xml"]))
    print(f"[quantize] {line(result)}", flush=True)
    info["logit_sqnr"] = result
    refuse_below_floor(result)
    atomic_write_json(spec.out, info)
    print(f"[quantize] {spec.out.name}: {info['xml']} ({info['calib_frames']} calibration frames, "
          f"{info['calibration_seconds']} s)")
    return info


def _remove_previous(out: Path, stem: str) -> None:
    """The sidecar and the IR files it named (an earlier calibration set of this run; other runs' IRs, named by
    their own sidecars, stay), and temp files of killed quantisations of this IR name."""
    try:
        old = json.loads(out.read_text())
    except (OSError, ValueError):
        old = {}
    out.unlink(missing_ok=True)
    for key in ("xml", "bin"):
        if isinstance(old.get(key), str) and "/" not in old[key]:
            (out.parent / old[key]).unlink(missing_ok=True)
    for path in out.parent.glob(f".{stem}.*.tmp.*"):
        path.unlink(missing_ok=True)
