"""The kit's one way to open an ONNX Runtime session, on the provider asked for and never a silent
CPU fallback.

Why in the model stage: the export verifies every graph it writes with ONNX Runtime before it
publishes it, and the runtime backend (semask.backends.ort.runtime), the crosscheck and the benchmarks open
their sessions the same way; the lowest of them holds it.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from semask.core.memory import is_out_of_memory
from semask.core.errors import KitError, not_one_of
from semask.spec import ORT_PROVIDER_PACKAGES, ORT_PROVIDERS

# the kit's provider names (semask.spec.ORT_PROVIDERS) -> ORT's
PROVIDERS = {name: f"{name.upper()}ExecutionProvider" for name in ORT_PROVIDERS}
PROVIDER_PACKAGES = ORT_PROVIDER_PACKAGES


def provider_entry(provider: str, device: int) -> tuple[str, dict[str, Any]]:
    """Map the kit's provider name to ORT's provider name + options; refuse one not installed."""
    import onnxruntime as ort

    if provider not in PROVIDERS:
        raise KitError(not_one_of("ORT_PROVIDER", provider, PROVIDERS))
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


def make_session(model: Path | str | bytes, provider: str = "cpu", device: int = 0, threads: int | None = None,
                 arena: bool = True) -> Any:
    """The kit's one way to open ONNX Runtime: an InferenceSession on the requested provider that
    refuses a silent fallback to CPU. `model` is a file, or a serialised graph (export's verification).
    arena=False: no CPU memory arena (a one-off run, e.g. the export's verification, then needs no
    more memory than its tensors).

    On the CPU provider the memory pattern is off: with it, ORT's second run allocates one block for
    the whole plan while the arena still holds the first run's chunks, so every process that runs the
    model twice (warm-up + timed runs, a folder of batches) peaked at ~1.45x one run (SeMask-S bs1
    1024x2048: 2.76 GB against 1.93 GB; bs8: 19-21 GB against 12.6 GB); without it the arena reuses
    the first run's chunks and the peak stays at one run's (1.94 GB), at the same speed."""
    import onnxruntime as ort

    name, options = provider_entry(provider, device)
    opts = ort.SessionOptions()
    if threads:
        opts.intra_op_num_threads = threads
    if not arena:
        opts.enable_cpu_mem_arena = False
    if name == "CPUExecutionProvider":
        opts.enable_mem_pattern = False
    providers: list[Any] = [(name, options)]
    if name != "CPUExecutionProvider":
        providers.append("CPUExecutionProvider")
    try:
        session = ort.InferenceSession(model if isinstance(model, bytes) else str(model), sess_options=opts,
                                       providers=providers)
    except Exception as exc:  # ORT raises its own Fail/InvalidGraph types
        if is_out_of_memory(exc):
            raise  # the caller's memory_guard names BS
        what = "the in-memory graph" if isinstance(model, bytes) else model
        raise KitError(f"onnxruntime cannot load {what} with {name}: {exc}") from None
    if session.get_providers()[0] != name:
        raise KitError(
            f"ORT_PROVIDER={provider}: onnxruntime fell back to {session.get_providers()[0]} "
            f"(is the {provider.upper()} runtime installed and device {device} visible?); use ORT_PROVIDER=cpu"
        )
    return session
