"""What one atc compilation is given, as a frozen spec object.

Why: `compile_om` takes many settings; one named object per job keeps its
signature short and lets the callers (the step CLIs, the backend, the tests) name each setting.
Standard library only.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Optional, Sequence, Union

from semask.spec import Weights


@dataclass(frozen=True)
class AtcJob:
    """One ONNX -> OM compilation (the fields `tools/atc_compile.py` and the backend's build fill in).

    `precision_v2` replaces `precision`; `weights` (the run's WEIGHTS) makes the ONNX's sidecar a must;
    `atc_python` is CANN's interpreter (ATC_PYTHON); `knobs` maps KEEP_DTYPE, OP_PRECISION, MIXLIST to files.
    """

    onnx: Union[Path, str]
    output_om: Union[Path, str]
    batch_size: int
    height: int
    width: int
    soc: str
    precision: Optional[str] = "force_fp16"
    input_dtype: str = "float32"
    extra: Sequence[str] = ()
    device: int = 0
    precision_v2: Optional[str] = None
    op_select_implmode: Optional[str] = None
    weights: Union[str, Weights, None] = None
    atc_python: Optional[str] = None
    knobs: Optional[Mapping[str, Optional[str]]] = None

