"""Peak resident memory (RSS) of this process, per step.

Why: a CPU host has a fixed RAM budget, and `make reproduce` decides whether a batch size can run
from measured figures, not guesses. Each expensive step (trace, onnxsim, verify, inference) records
its own peak in the sidecar or JSON it writes. Linux keeps one high-water mark per process (VmHWM);
writing "5" to /proc/self/clear_refs resets it to the current RSS, so several steps in one process
each get their own peak. Where that is not possible, the process-wide peak is reported and marked so.
Standard library only.
"""
from __future__ import annotations

import contextlib
import re
import resource
import sys
from pathlib import Path
from typing import Dict, Iterator

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
