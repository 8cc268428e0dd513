"""ONNX Runtime as a Backend (semask.backends.base): names for the plan, and infer/perf on its graph.

Standard library at import: onnxruntime and numpy load inside the verbs."""
from __future__ import annotations

import sys
from typing import Any, Dict, Mapping, Tuple

from semask.backends.base import BuildSpec, InferSpec, PerfSpec

PRECISION = "fp32"  # the precision axis of ONNX Runtime: the provider's fp32, nothing to sweep


class OrtBackend:
    name = "ort"
    umask = ""

    def run_prefix(self, values: Mapping[str, str], soc: str) -> str:
        return f"ort-{values['ORT_PROVIDER']}"

    def precisions(self) -> Tuple[str, ...]:
        return (PRECISION,)

    def precision_label(self, values: Mapping[str, str]) -> str:
        return PRECISION

    def provider(self, values: Mapping[str, str]) -> str:
        return values["ORT_PROVIDER"]

    def onnx_key(self, values: Mapping[str, str]) -> str:
        # the fused graph is built and measured for the CPU provider; CUDA/CANN keep the plain one
        return "ONNX_ORT" if values["ORT_PROVIDER"] == "cpu" else "ONNX_SIM"

    def model_key(self, values: Mapping[str, str]) -> str:
        return self.onnx_key(values)

    def name_tail(self, values: Mapping[str, str], om_tag: str) -> str:
        return ""

    def step_prefix(self, values: Mapping[str, str]) -> str:
        return ""

    def check(self, values: Mapping[str, str]) -> list:
        return []

    def build(self, spec: BuildSpec) -> Dict[str, Any]:
        return {}

    def infer(self, spec: InferSpec) -> Dict[str, Any]:
        from semask.backends.ort import runtime as ort
        from semask.core.progress import step

        provider, device = spec.knobs["ORT_PROVIDER"], int(spec.knobs["DEVICE"])
        with step("infer", f"onnxruntime[{provider}] bs{spec.batch_size} {spec.bins_dir}"):
            return ort.infer_folder(spec.model, spec.bins_dir, spec.preds_dir, spec.run_name, spec.batch_size,
                                    provider=provider, device=device, argv=list(sys.argv),
                                    weights=spec.weights)

    def perf(self, spec: PerfSpec) -> Dict[str, Any]:
        from semask.backends.ort import runtime as ort

        runtime = ort.ort_runtime(spec.knobs["ORT_PROVIDER"], int(spec.knobs["DEVICE"]), None)
        return _timed(spec, runtime)


def _timed(spec: PerfSpec, runtime: Any) -> Dict[str, Any]:
    """The shared perf run of the folder runtimes (ORT, OpenVINO): time, write the JSON, print the line."""
    from pathlib import Path

    from semask.backends.ort import runtime as ort
    from semask.core.fsio import atomic_write_json, ensure_writable_dir
    from semask.core.progress import step

    out = Path(spec.out_json)
    ensure_writable_dir(out.parent)
    with step("perf", f"{runtime.label} bs{spec.batch_size} LOOP={spec.loop or 'auto'}"):
        result = ort.run_perf(spec.model, spec.batch_size, spec.loop, 1, input_dir=spec.bins_dir,
                              scratch_parent=out.parent, budget_seconds=spec.seconds, weights=spec.weights,
                              runtime=runtime)
    atomic_write_json(out, result)
    print(ort.result_line(result))
    return result
