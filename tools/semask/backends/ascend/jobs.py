"""What one atc compilation and one ais_bench inference run are given, as frozen spec objects.

Why: `compile_om` and `ais_infer` take many settings; one named object per job keeps their
signatures short and lets the callers (the step CLIs, the backend, the tests) name each setting.
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


@dataclass(frozen=True)
class AisInferJob:
    """One ais_bench run of an .om over a bins folder, published as `output_dir/dirname`.

    `device` is one NPU id or a list (ais_bench's multi-device mode); `weights` as in `AtcJob`.
    """

    om: Union[Path, str]
    input_dir: Union[Path, str]
    output_dir: Union[Path, str]
    dirname: str
    batch_size: int
    device: Union[int, Sequence[int]] = 0
    weights: Union[str, Weights, None] = None
