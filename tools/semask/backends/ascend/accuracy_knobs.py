"""The accuracy knobs other ModelZoo 310P guides use (issue 25 §6): KEEP_DTYPE, OP_PRECISION, MIXLIST.

Why: the guide lost 0.59 mIoU to fp16; ConvNeXt keeps LayerNorm's Pow/ReduceMean in fp32 (`--keep_dtype`), others set
`Gelu=high_performance` (`--op_precision_mode`) or adjust the mixed-precision lists (`--modify_mixlist`, which atc
takes only with an allow_mix_precision mode). Each is a file, so its content decides the compiled model: the first
8 hex of its sha256 go into the .om name and the whole sha256 into the .om's sidecar. Standard library only (the
plan computes the names at parse time).
"""
from __future__ import annotations

import hashlib
import os
from typing import Mapping

#: make variable -> (atc flag, tag in the .om name)
KNOBS: dict[str, tuple[str, str]] = {"KEEP_DTYPE": ("--keep_dtype", "kd"), "OP_PRECISION": ("--op_precision_mode", "op"),
                                     "MIXLIST": ("--modify_mixlist", "ml")}
MIX_MODES = ("allow_mix_precision", "allow_mix_precision_fp16", "allow_mix_precision_bf16")


def _sha256(path: str) -> str:
    with open(path, "rb") as fh:
        return hashlib.sha256(fh.read()).hexdigest()


def knob_problems(values: Mapping[str, str]) -> list[str]:
    """One line per knob file that is not a readable file, and MIXLIST without a mixed-precision mode."""
    problems = []
    for name, (flag, _) in KNOBS.items():
        path = values.get(name) or ""
        if path and not os.path.isfile(path):
            problems.append(f"{name}={path} is not a file; give the config atc's {flag} reads, or leave {name} empty")
    mixed = values.get("PRECISION") in MIX_MODES or values.get("PRECISION_V2") in ("mixed_float16", "mixed_bfloat16")
    if values.get("MIXLIST") and not mixed:
        problems.append(f"MIXLIST={values['MIXLIST']} needs a mixed-precision mode (atc takes --modify_mixlist only with "
                        f"--precision_mode {'/'.join(MIX_MODES)}); add PRECISION=allow_mix_precision")
    return problems


def knob_files(values: Mapping[str, str]) -> dict[str, dict[str, str]]:
    """{variable: {flag, path (absolute), sha256}} of the knobs that are set (files checked by knob_problems)."""
    out = {}
    for name, (flag, _) in KNOBS.items():
        path = values.get(name) or ""
        if path and os.path.isfile(path):
            out[name] = {"flag": flag, "path": os.path.abspath(path), "sha256": _sha256(path)}
    return out


def knob_tag(values: Mapping[str, str]) -> str:
    """`_kd<sha8>_op<sha8>_ml<sha8>` for the knobs that are set ('' when none)."""
    files = knob_files(values)
    return "".join(f"_{KNOBS[name][1]}{files[name]['sha256'][:8]}" for name in KNOBS if name in files)


def atc_args(files: Mapping[str, Mapping[str, str]]) -> list[str]:
    """The atc flags of `knob_files(...)`."""
    return [f"{entry['flag']}={entry['path']}" for entry in files.values()]
