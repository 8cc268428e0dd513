"""What this atc accepts, from its own `--help` (issue 25 §6): PRECISION_V2 only where atc lists --precision_mode_v2.

Why: CANN 6.0's atc has no --precision_mode_v2; it fails only after the export and the ATC-friendly graph. Its help
text is the one source that does not depend on the CANN version string. Standard library only (parse time).
"""
from __future__ import annotations

import shutil
import subprocess

#: --precision_mode_v2 value -> the --precision_mode an older atc takes instead (CANN's documented pairs)
V1_FOR_V2 = {"fp16": "force_fp16", "origin": "must_keep_origin_dtype", "mixed_float16": "allow_mix_precision_fp16",
             "mixed_bfloat16": "allow_mix_precision_bf16", "cube_fp16in_fp32out": "cube_fp16in_fp32out"}


def atc_help_text() -> str | None:
    """`atc --help` (stdout and stderr), or None when there is no atc or it does not answer."""
    atc = shutil.which("atc")
    if atc is None:
        return None
    try:
        proc = subprocess.run([atc, "--help"], capture_output=True, text=True, errors="replace", timeout=120)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return proc.stdout + proc.stderr


def precision_v2_problem(precision_v2: str, help_text: str | None) -> str | None:
    """One line when PRECISION_V2 is set and this atc's help does not list --precision_mode_v2."""
    if not precision_v2 or help_text is None or "--precision_mode_v2" in help_text:
        return None
    instead = V1_FOR_V2.get(precision_v2)
    fix = f"use PRECISION={instead} instead" if instead else "use PRECISION (--precision_mode) instead"
    return (f"PRECISION_V2={precision_v2}, but this atc ({shutil.which('atc')}) does not list --precision_mode_v2 in "
            f"its --help (CANN 6.0 has none); {fix}")
