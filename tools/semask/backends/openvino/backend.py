"""OpenVINO (CPU) as a Backend (semask.backends.base): it runs ONNX Runtime's graph (OpenVINO reads its
com.microsoft ops; _sim ran 1.06x its time, bench/RESULTS.md). Standard library at import."""
from __future__ import annotations

import sys
from typing import Any, Dict, Mapping, Tuple

from semask import spec as vocabulary
from semask.backends.base import InferSpec, InProcessBackend, PerfSpec


class OpenvinoBackend(InProcessBackend):
    name = "openvino"

    def run_prefix(self, values: Mapping[str, str], soc: str) -> str:
        return "openvino-cpu"

    def precisions(self) -> Tuple[str, ...]:
        return tuple(vocabulary.OV_PRECISIONS)

    def precision_label(self, values: Mapping[str, str]) -> str:
        return values["PRECISION"]

    def provider(self, values: Mapping[str, str]) -> str:
        return "cpu"

    def onnx_key(self, values: Mapping[str, str]) -> str:
        return "ONNX_ORT"

    def model_key(self, values: Mapping[str, str]) -> str:
        """PRECISION=int8 runs NNCF's IR: the run's model file is its sidecar (semask.backends.openvino.ir)."""
        return "INT8_IR" if values.get("PRECISION") == "int8" else "ONNX_ORT"

    def name_tail(self, values: Mapping[str, str], om_tag: str) -> str:
        return values["PRECISION"]

    def infer(self, spec: InferSpec) -> Dict[str, Any]:
        from semask.backends import folder_run
        from semask.core.progress import step

        runtime, onnx = runtime_for(spec.model, spec.knobs, spec.bins_dir, spec.batch_size)
        with step("infer", f"{runtime.label} bs{spec.batch_size} {spec.bins_dir}"):
            run = folder_run.FolderRun(onnx, spec.bins_dir, spec.preds_dir, spec.run_name, spec.batch_size,
                                       argv=list(sys.argv), weights=spec.weights)
            return folder_run.infer_folder(run, runtime)

    def perf(self, spec: PerfSpec) -> Dict[str, Any]:
        from dataclasses import replace

        from semask.backends.ort.backend import _timed

        runtime, onnx = runtime_for(spec.model, spec.knobs, spec.bins_dir, spec.batch_size)
        return _timed(replace(spec, model=onnx), runtime)


def runtime_for(model: str, knobs: Mapping[str, str], bins_dir: "str | None", batch_size: int) -> Tuple[Any, str]:
    """(the Runtime, the ONNX its input spec and identity come from). int8: `model` is the IR's sidecar, verified
    here; bf16 and int8 record their logit SQNR against fp32 on the run's first frames (refused below the floor)."""
    from semask.backends.openvino.ir import source_onnx
    from semask.backends.openvino.runtime import openvino_runtime
    from semask.backends.openvino.sqnr_check import sqnr_record
    from semask.backends.ort.backend import threads

    precision = knobs["PRECISION"]
    ir = model if precision == "int8" else None
    onnx = source_onnx(model) if ir else model
    runtime = openvino_runtime(precision, threads(knobs), onnx, ir)
    record = sqnr_record(onnx, bins_dir, batch_size, precision, ir) if bins_dir else None
    if record:  # fp32 is the reference itself
        runtime.facts["logit_sqnr"] = record
    return runtime, onnx
