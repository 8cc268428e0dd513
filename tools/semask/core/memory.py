"""Host memory: each step's peak RSS, and running out of it as one line that names BS.

Why: a CPU host has a fixed RAM budget. `make reproduce` decides whether a batch size can run from
measured figures, so each expensive step (trace, onnxsim, verify, inference) records its own peak in
the sidecar or JSON it writes: Linux keeps one high-water mark per process (VmHWM), and writing "5"
to /proc/self/clear_refs resets it, so several steps in one process each get their own peak (where
that is not possible, the process-wide peak is reported and marked so). And a BS too large for the
host's RAM used to end in a traceback from deep inside torch, ONNX Runtime or numpy: the steps that
allocate per batch run under `memory_guard`, which turns exactly those failures into a KitError.
Standard library only.
"""
from __future__ import annotations

import contextlib
import os
import re
import resource
import sys
from pathlib import Path
from typing import Dict, Iterator

from semask.core.errors import KitError

_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")


def peak_rss_bytes() -> int:
    """This process's RSS high-water mark (VmHWM since the last reset), else getrusage's lifetime maximum."""
    try:
        match = re.search(r"^VmHWM:\s+(\d+)\s+kB", _STATUS.read_text(), re.M)
        if match:
            return int(match.group(1)) * 1024
    except OSError:
        pass
    scale = 1 if sys.platform == "darwin" else 1024  # ru_maxrss: bytes on macOS, kB on Linux
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * scale


def reset_peak() -> bool:
    """Reset the high-water mark to the current RSS; False when the kernel does not allow it."""
    try:
        _CLEAR_REFS.write_text("5")
        return True
    except OSError:
        return False


@contextlib.contextmanager
def measure_peak(name: str, into: Dict[str, int]) -> Iterator[None]:
    """Record the peak RSS of the enclosed block as into[name] (bytes), also when the block fails.

    When the mark cannot be reset, the figure is the process's peak so far (an upper bound) and
    into[name + "_includes_earlier"] says so.
    """
    fresh = reset_peak()
    try:
        yield
    finally:
        into[name] = peak_rss_bytes()
        if not fresh:
            into[name + "_includes_earlier"] = 1


def gb(nbytes: float | None) -> str:
    """'12.6 GB' (decimal), for log lines."""
    return "?" if nbytes is None else f"{nbytes / 1e9:.2f} GB"


# ---------------------------------------------------------------- out of memory
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
