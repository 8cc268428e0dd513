"""OpenVINO on the CPU, behind the same contract as ONNX Runtime (semask.backends.folder_run).

Why: OpenVINO is the CPU runtime deployment users pick next to ORT. It reads the kit's ONNX graphs
directly (the `com.microsoft` Attention and Gelu of `*_ort.onnx` included), and on CPUs with bf16 units
(avx512_bf16, AMX) it is the CPU's counterpart of the NPU's force_fp16. Everything but opening the model
is ORT's code: the ais_bench batching and layout, the predictions writer, manifests, the resumable
journal and the perf statistics; this module only supplies a `Runtime` whose session has ORT's
`run(None, feed)` shape.

Precision is always set explicitly: INFERENCE_PRECISION_HINT=f32 for fp32 (OpenVINO would otherwise
choose bf16 by itself on such CPUs), bf16 only when asked for (PRECISION=bf16, refused at make's parse
time on a CPU without the units: semask.core.cpuflags).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

from semask.core.errors import KitError, not_one_of
from semask.backends.folder_run import Runtime
from semask.spec import OV_DEVICE, OV_PRECISION_HINTS

GRAPH_KINDS = {"onnx-ort": "ort", "onnx-simplified": "sim"}  # sidecar kind -> which kit graph


def _openvino() -> Any:
    try:
        import openvino
    except ImportError:
        raise KitError("BACKEND=openvino but the openvino package is not installed in this Python; run "
                       "`.venv/bin/pip install -r env/requirements.txt` (or `make env`)") from None
    return openvino


def version() -> str:
    return _openvino().__version__.split("-")[0]


class Session:
    """A compiled model and one infer request, with ORT's `run(output_names, feed)` signature."""

    def __init__(self, model: Path | str, precision: str = "fp32", threads: int | None = None) -> None:
        if precision not in OV_PRECISION_HINTS:
            raise KitError(not_one_of("PRECISION", precision, OV_PRECISION_HINTS, "BACKEND=openvino takes these"))
        ov = _openvino()
        config: dict[str, Any] = {"INFERENCE_PRECISION_HINT": OV_PRECISION_HINTS[precision],
                                  "PERFORMANCE_HINT": "LATENCY"}  # one stream: one batch at a time, as ais_bench
        if threads:
            config["INFERENCE_NUM_THREADS"] = threads
        try:
            self.compiled = ov.Core().compile_model(str(model), OV_DEVICE, config)
        except Exception as exc:  # OpenVINO raises RuntimeError subclasses of its own
            raise KitError(f"OpenVINO cannot compile {model} for {OV_DEVICE}: {_first_line(exc)}") from None
        hint = self.compiled.get_property("INFERENCE_PRECISION_HINT")
        got = hint.get_type_name() if hasattr(hint, "get_type_name") else str(hint)
        if got.lower() != OV_PRECISION_HINTS[precision]:
            raise KitError(f"OpenVINO runs {model} at precision {got}, not the {OV_PRECISION_HINTS[precision]} "
                           f"asked for (PRECISION={precision}); please report it with `lscpu`")
        self.precision_hint = got
        self.request = self.compiled.create_infer_request()
        self.outputs = list(self.compiled.outputs)

    def run(self, output_names: Sequence[str] | None, feed: dict[str, np.ndarray]) -> list[np.ndarray]:
        """All outputs, in the graph's order (output_names is ignored, as the kit always passes None)."""
        result = self.request.infer(feed)
        return [np.asarray(result[o]) for o in self.outputs]


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def graph_kind(model: Path | str) -> str:
    """'ort' (`*_ort.onnx`), 'sim' (`*_sim.onnx`) or 'other': which of the kit's graphs runs, from its sidecar."""
    import json

    from semask.model.onnx_io import sidecar_path

    try:
        kind = json.loads(sidecar_path(model).read_text()).get("kind")
    except (OSError, ValueError, AttributeError):
        kind = None
    return GRAPH_KINDS.get(kind or "", "other")


def openvino_runtime(precision: str = "fp32", threads: int | None = None, model: Path | str | None = None) -> Runtime:
    """OpenVINO CPU at `precision` as a Runtime; its facts (precision, hint, graph, version) go into the
    summary, the perf JSON and the resume journal's fingerprint."""
    facts = {"precision": precision, "precision_hint": OV_PRECISION_HINTS.get(precision), "openvino": version(),
             "threads": threads}
    if model is not None:
        facts["graph"] = graph_kind(model)
    facts["fingerprint"] = f"openvino-{OV_DEVICE}-{precision}-{threads or 'all'}"
    return Runtime("openvino", OV_DEVICE, f"openvino[{OV_DEVICE.lower()} {precision}]",
                   lambda path: Session(path, precision, threads), facts, threads)
