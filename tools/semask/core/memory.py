"""Running out of host memory at a batch size, as one line that names BS and what to do.

Why: a BS too large for the host's RAM used to end in a traceback from deep inside torch
("DefaultCPUAllocator: can't allocate memory"), ONNX Runtime ("std::bad_alloc", "Failed to allocate
memory") or numpy (MemoryError). The steps that allocate per batch (export, inference, perf) run
under `memory_guard`, which turns exactly those failures into a KitError; anything else passes through.
"""
from __future__ import annotations

import contextlib
import os
from typing import Iterator

from semask.core.errors import KitError

# What torch, onnxruntime, numpy and the C++ runtime say when an allocation fails (lower case).
OUT_OF_MEMORY_MARKERS = ("bad_alloc", "failed to allocate memory", "can't allocate memory", "cannot allocate memory",
                         "out of memory", "unable to allocate")


def is_out_of_memory(exc: BaseException) -> bool:
    """True for an allocation failure, whichever library raised it."""
    if isinstance(exc, MemoryError):
        return True
    return any(marker in str(exc).lower() for marker in OUT_OF_MEMORY_MARKERS)


def host_ram_bytes() -> int | None:
    """Physical memory of the host, or None where sysconf cannot say."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return None


def out_of_memory_error(what: str, batch_size: int, exc: BaseException) -> KitError:
    lines = str(exc).strip().splitlines()
    detail = type(exc).__name__ + (f": {lines[-1].strip()[:300]}" if lines else "")
    ram = host_ram_bytes()
    has = f"this host has {ram / 1e9:.1f} GB of RAM" if ram else "the host's RAM is too small for it"
    smaller = f"BS={max(1, batch_size // 2)}" if batch_size > 1 else "a smaller HEIGHT x WIDTH"
    return KitError(f"BS={batch_size}: {what} ran out of memory ({detail}); {has}: use a smaller "
                    f"BS (e.g. {smaller}) or HEIGHT x WIDTH, or close what else uses the memory, then run it again")


@contextlib.contextmanager
def memory_guard(what: str, batch_size: int) -> Iterator[None]:
    """Turn an allocation failure inside the block into `out_of_memory_error` (KitErrors pass unchanged)."""
    try:
        yield
    except KitError:
        raise
    except Exception as exc:  # noqa: BLE001 - torch/ORT raise their own types; only memory failures are caught
        if is_out_of_memory(exc):
            raise out_of_memory_error(what, batch_size, exc) from None
        raise
