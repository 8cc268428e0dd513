"""OpenVINO (CPU) as a Backend (semask.backends.base): it runs ONNX Runtime's graph (OpenVINO reads its
com.microsoft ops; _sim ran 1.06x its time, bench/RESULTS.md). Standard library at import."""
from __future__ import annotations

import sys
from typing import Any, Dict, Mapping, Tuple

from semask import spec as vocabulary
from semask.backends.base import BuildSpec, InferSpec, PerfSpec


class OpenvinoBackend:
    name = "openvino"
    umask = ""

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
        return "ONNX_ORT"

    def name_tail(self, values: Mapping[str, str], om_tag: str) -> str:
        return values["PRECISION"]

    def step_prefix(self, values: Mapping[str, str]) -> str:
        return ""

    def host_facts(self) -> None:
        return None

    def check(self, values: Mapping[str, str]) -> list:
        return []

    def build(self, spec: BuildSpec) -> Dict[str, Any]:
        return {}

    def infer(self, spec: InferSpec) -> Dict[str, Any]:
        from semask.backends import folder_run
        from semask.backends.openvino.runtime import openvino_runtime
        from semask.backends.ort.backend import threads
        from semask.core.progress import step

        runtime = openvino_runtime(spec.knobs["PRECISION"], threads(spec.knobs), spec.model)
        with step("infer", f"{runtime.label} bs{spec.batch_size} {spec.bins_dir}"):
            return folder_run.infer_folder(spec.model, spec.bins_dir, spec.preds_dir, spec.run_name, spec.batch_size,
                                           runtime, argv=list(sys.argv), weights=spec.weights)

    def perf(self, spec: PerfSpec) -> Dict[str, Any]:
        from semask.backends.openvino.runtime import openvino_runtime
        from semask.backends.ort.backend import _timed, threads

        return _timed(spec, openvino_runtime(spec.knobs["PRECISION"], threads(spec.knobs), spec.model))
