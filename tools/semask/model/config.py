"""One row per MODEL: everything the kit states about a model variant, in one place.

Why a module of its own, beside the modeling file (network.py): the plan, the RAM guide, the tables and the
download read these facts at parse time, before torch is installed, so this module imports no torch (standard
library and semask.spec only). network.py builds the layers from a row's `arch`; nothing else restates a
number of this file. The MODEL names themselves are the run vocabulary (semask.spec.MODELS, needed by
`make help` one stage below); a row exists for each of them, in that order, or the import fails.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, Tuple

from semask.spec import MODELS, NUM_CLASSES, OFFICIAL_MODELS


@dataclass(frozen=True)
class SeMaskConfig:
    """The architecture numbers of one SeMask-FPN variant (the upstream Cityscapes config's `model`)."""

    embed_dim: int
    depths: Tuple[int, int, int, int]
    num_heads: Tuple[int, int, int, int]
    window_size: int = 7
    sem_window_size: int = 7
    num_sem_blocks: Tuple[int, int, int, int] = (1, 1, 1, 1)
    head_channels: int = 256
    num_classes: int = NUM_CLASSES
    mlp_ratio: float = 4.0
    stage_dims: Tuple[int, ...] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "stage_dims", tuple(self.embed_dim * 2**i for i in range(4)))


@dataclass(frozen=True)
class PublishedRow:
    """One row of a published table the kit reproduces; `failure` instead of figures when it did not run."""

    source: str
    model: str
    backend: str
    chip: str
    precision: str
    batch_size: int
    miou: float | None
    fps: float | None
    failure: str | None = None


@dataclass(frozen=True)
class ModelRow:
    """Everything about one MODEL."""

    name: str                      # the MODEL value
    display_name: str              # how tables and reports name it
    arch: SeMaskConfig             # the network's numbers
    download_id: str | None        # Google Drive id of the official Cityscapes checkpoint (None: no official weights)
    upstream_config: str | None    # under SeMask-FPN/configs (None: `reduced`, see tests/fixtures/config_reduced.json)
    ram_scale: float               # per-image activation memory relative to SeMask-S (semask.run.ram)
    cpu_seconds_per_image: float   # rough ORT CPU time per image at 1024x2048 on CPU_REFERENCE_CORES cores
    published: Tuple[PublishedRow, ...] = ()  # the published figures for this model


# Where the published figures come from (both public):
#   MODELZOO: the Ascend ModelZoo SeMask README (Ascend/ModelZoo-PyTorch on gitee.com,
#     ACL_PyTorch/contrib/cv/segmentation/SeMask/README.md): Ascend310P3, OM, force_fp16, ais_bench `--loop 100`;
#     bs16 ran out of device memory.
#   UPSTREAM: the upstream SeMask-FPN README (semask.spec.UPSTREAM_REPO_URL): SeMask-S, PyTorch fp32, single scale.
MODELZOO = "Ascend ModelZoo SeMask README"
UPSTREAM = "upstream SeMask-FPN README"
_NPU = ("ascend/ais_bench", "Ascend310P3", "force_fp16")


def _upstream(size: str, window: int) -> str:
    """The file of upstream's Cityscapes config for a Swin size and window, under SeMask-FPN/configs."""
    return f"semask_swin/cityscapes/semfpn_semask_swin_{size}_patch4_window{window}_768x768_80k_cityscapes.py"


# CPU time: measured on the kit's 2-core x86 VM for SeMask-S at 1024x2048 on ORT CPU (~6.2 s per image);
# the other sizes scale by their FLOPs (rough). A guide for `make reproduce`, no promise.
# RAM scale: per-image activation memory relative to SeMask-S (depth and width of the Swin stages); host memory
# itself comes from measured per-step peaks (semask.run.ram, env/ram_measured.json).
# arch: embed_dim, depths, num_heads, window_size, sem_window_size (upstream's Cityscapes configs).
MODEL_TABLE: Tuple[ModelRow, ...] = (
    ModelRow("tiny", "SeMask-T", SeMaskConfig(96, (2, 2, 6, 2), (3, 6, 12, 24), 7, 7),
             "1_JBOJQSUVes-CWs075XyPnuNfG5psELr", _upstream("tiny", 7), ram_scale=0.75, cpu_seconds_per_image=3.5),
    ModelRow("small", "SeMask-S", SeMaskConfig(96, (2, 2, 18, 2), (3, 6, 12, 24), 7, 7),
             "1WyT207dZmdwETBUR6aeiqOVfQdUIV_fN", _upstream("small", 7), ram_scale=1.0, cpu_seconds_per_image=6.2,
             published=(
                 PublishedRow(MODELZOO, "small", *_NPU, 1, 76.54, 4.72),
                 PublishedRow(MODELZOO, "small", *_NPU, 4, 76.54, 4.37),
                 PublishedRow(MODELZOO, "small", *_NPU, 8, 76.54, 4.13),
                 PublishedRow(MODELZOO, "small", *_NPU, 16, None, None, failure="out of memory (内存不足)"),
                 PublishedRow(UPSTREAM, "small", "pytorch (upstream)", "GPU", "fp32", 1, 77.13, None),
             )),
    ModelRow("base", "SeMask-B", SeMaskConfig(128, (2, 2, 18, 2), (4, 8, 16, 32), 12, 12),
             "1-LzVB6XzD7IR0zzE5qmE0EM4ZTv429b4", _upstream("base", 12), ram_scale=1.5, cpu_seconds_per_image=10.5),
    ModelRow("large", "SeMask-L", SeMaskConfig(192, (2, 2, 18, 2), (6, 12, 24, 48), 12, 12),
             "1R9DDCmucQ_a_6ZkMGufEZCzJ-_qVMqCB", _upstream("large", 12), ram_scale=2.35, cpu_seconds_per_image=20.0),
    # tests/fixtures/config_reduced.json (golden vectors); tests check these numbers against it.
    ModelRow("reduced", "reduced test model", SeMaskConfig(32, (2, 2, 2, 2), (1, 2, 4, 8), 7, 7, head_channels=32),
             None, None, ram_scale=0.02, cpu_seconds_per_image=0.05),
)
MODEL_ROWS: Dict[str, ModelRow] = {m.name: m for m in MODEL_TABLE}
UPSTREAM_CONFIGS: Dict[str, str] = {m.name: m.upstream_config for m in MODEL_TABLE if m.upstream_config}

if tuple(MODEL_ROWS) != MODELS or tuple(m.name for m in MODEL_TABLE if m.download_id) != OFFICIAL_MODELS:
    raise ImportError("semask.model.config: the rows must be semask.spec.MODELS in order, and exactly "
                      "semask.spec.OFFICIAL_MODELS have a download id")
