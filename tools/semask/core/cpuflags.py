"""Does this CPU have bf16 units? Read from /proc/cpuinfo, standard library only.

Why: OpenVINO runs bf16 only where the CPU has avx512_bf16 or AMX; elsewhere it would silently run
(slow) fp32 emulation or fp32 itself, and a table row labelled bf16 would be false. PRECISION=bf16
is therefore refused up front, at make's parse time (before any export), naming the flags found.
The cpuinfo path is a parameter (make's CPUINFO variable), so a test can hand in another CPU's flags.

  python -m semask.core.cpuflags --check "fp32 bf16" [--cpuinfo /proc/cpuinfo]   # prints ok or error: ...
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable, Sequence

from semask.core.errors import KitError, not_one_of
from semask.spec import OV_PRECISIONS

CPUINFO = Path("/proc/cpuinfo")
BF16_FLAG = "avx512_bf16"
AMX_PREFIX = "amx"  # amx_bf16, amx_tile, amx_int8, ... (Sapphire Rapids and later)


def read_flags(cpuinfo: Path | str = CPUINFO) -> frozenset[str]:
    """The flags of the first processor in a /proc/cpuinfo text (x86 'flags', Arm 'Features')."""
    try:
        text = Path(cpuinfo).read_text(errors="replace")
    except OSError as exc:
        raise KitError(f"CPUINFO={cpuinfo} cannot be read ({exc.strerror}); use CPUINFO=/proc/cpuinfo") from None
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return frozenset(value.split())
    return frozenset()


def bf16_units(flags: Iterable[str]) -> list[str]:
    """The flags that give bf16 compute: avx512_bf16 and the AMX ones."""
    return sorted(f for f in flags if f == BF16_FLAG or f.startswith(AMX_PREFIX))


def precision_problem(precisions: Sequence[str], cpuinfo: Path | str = CPUINFO) -> str | None:
    """None when every OpenVINO precision asked for can run here, else the one-line reason and fix."""
    for precision in precisions:
        if precision not in OV_PRECISIONS:
            return not_one_of("PRECISION", precision, OV_PRECISIONS, "BACKEND=openvino takes these")
    if "bf16" not in precisions:
        return None
    flags = read_flags(cpuinfo)
    if bf16_units(flags):
        return None
    related = sorted(f for f in flags if f.startswith("avx512")) or ["no AVX-512 flags"]
    return (f"PRECISION=bf16 needs a CPU with avx512_bf16 or AMX, and {cpuinfo} lists neither "
            f"(found: {', '.join(related)}); use PRECISION=fp32 on this machine")
