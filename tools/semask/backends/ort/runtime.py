"""ONNX Runtime in the kit: its `Runtime` (sessions from semask.model.ort_session.make_session, the kit's
one way to open ONNX Runtime) for the folder run and the perf loop of semask.backends.folder_run, and
those two with ONNX Runtime's own parameters (provider, device, threads), as the CLIs and tests call them.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from semask.backends import folder_run
from semask.backends.base import PerfSpec
from semask.backends.folder_run import Runtime, result_line  # noqa: F401 (the perf line, re-exported)
from semask.core.errors import KitError, not_one_of
from semask.model.ort_session import PROVIDERS, make_session  # noqa: F401 (make_session re-exported)


def ort_runtime(provider: str = "cpu", device: int = 0, threads: int | None = None) -> Runtime:
    """ONNX Runtime on `provider` (the kit's name) as a Runtime."""
    if provider not in PROVIDERS:
        raise KitError(not_one_of("ORT_PROVIDER", provider, PROVIDERS))
    return Runtime("onnxruntime", PROVIDERS[provider], f"onnxruntime[{provider}]",
                   lambda model: make_session(model, provider, device, threads), {"fingerprint": provider}, threads)



def infer_folder(model: Path | str, input_dir: Path | str, output_dir: Path | str, dirname: str, batch_size: int,
                 **options: Any) -> dict[str, Any]:
    """folder_run.infer_folder on ONNX Runtime: options are provider, device, threads (the session), and
    warmup, argv, progress, weights (the run)."""
    runtime = ort_runtime(options.pop("provider", "cpu"), options.pop("device", 0), options.pop("threads", None))
    return folder_run.infer_folder(folder_run.FolderRun(model, input_dir, output_dir, dirname, batch_size, **options),
                                   runtime)


def run_perf(model: Path | str, batch_size: int, loop: int | None, warmup: int = 1, provider: str = "cpu",
             **options: Any) -> dict[str, Any]:
    """folder_run.run_perf on ONNX Runtime: options are device, threads, and input_dir, scratch_parent,
    budget_seconds, weights (the measurement)."""
    runtime = ort_runtime(provider, options.pop("device", 0), options.pop("threads", None))
    scratch = options.get("scratch_parent")
    spec = PerfSpec(str(model), batch_size, loop, options.get("budget_seconds", 60.0),
                    str(Path(scratch) / "perf.json") if scratch else "", options.get("input_dir"),
                    options.get("weights"), {})
    return folder_run.run_perf(spec, runtime, warmup)
