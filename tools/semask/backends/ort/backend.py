"""ONNX Runtime as a Backend (semask.backends.base): names for the plan, and infer/perf on its graph.

Standard library at import: onnxruntime and numpy load inside the verbs."""
from __future__ import annotations

import sys
from typing import Any, Dict, Mapping, Tuple

from semask.backends.base import InferSpec, InProcessBackend, PerfSpec

PRECISION = "fp32"  # the precision axis of ONNX Runtime: the provider's fp32, nothing to sweep


def threads(knobs: Mapping[str, str]) -> "int | None":
    """The intra-op threads a by-hand run asked for (THREADS; the plan leaves them to the runtime)."""
    return int(knobs["THREADS"]) if knobs.get("THREADS") else None


class OrtBackend(InProcessBackend):
    name = "ort"

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

    def check(self, values: Mapping[str, str]) -> list:
        """A provider this host and the run's Python can run (no onnxruntime import here), and one device."""
        from pathlib import Path

        from semask.backends.ort.provider import check_ort_provider
        from semask.core.errors import KitError

        try:
            check_ort_provider(values["ORT_PROVIDER"], values["PYTHON"] if Path(values["PYTHON"]).exists() else None)
        except KitError as exc:
            return [str(exc)]
        return super().check(values)

    def infer(self, spec: InferSpec) -> Dict[str, Any]:
        from semask.backends import folder_run
        from semask.backends.ort.runtime import ort_runtime
        from semask.core.progress import step

        provider = spec.knobs["ORT_PROVIDER"]
        runtime = ort_runtime(provider, int(spec.knobs["DEVICE"]), threads(spec.knobs))
        with step("infer", f"onnxruntime[{provider}] bs{spec.batch_size} {spec.bins_dir}"):
            run = folder_run.FolderRun(spec.model, spec.bins_dir, spec.preds_dir, spec.run_name, spec.batch_size,
                                       argv=list(sys.argv), weights=spec.weights)
            return folder_run.infer_folder(run, runtime)

    def perf(self, spec: PerfSpec) -> Dict[str, Any]:
        from semask.backends.ort.runtime import ort_runtime

        runtime = ort_runtime(spec.knobs["ORT_PROVIDER"], int(spec.knobs["DEVICE"]), threads(spec.knobs))
        return _timed(spec, runtime)


def _timed(spec: PerfSpec, runtime: Any) -> Dict[str, Any]:
    """The perf step of the in-process runtimes (ORT, OpenVINO): time, write the JSON, print the line."""
    from pathlib import Path

    from semask.backends import folder_run
    from semask.core.fsio import atomic_write_json, ensure_writable_dir
    from semask.core.progress import step

    out = Path(spec.out_json)
    ensure_writable_dir(out.parent)
    with step("perf", f"{runtime.label} bs{spec.batch_size} LOOP={spec.loop or 'auto'}"):
        result = folder_run.run_perf(spec, runtime, int(spec.knobs.get("WARMUP") or 1))
    atomic_write_json(out, result)
    print(folder_run.result_line(result))
    return result
