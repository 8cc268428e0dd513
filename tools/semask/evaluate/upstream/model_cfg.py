"""The upstream (mmseg) model config of a kit preset, for presets that have no upstream config file.

Why: the `reduced` golden-vector model exists only in the kit, so the crosscheck hands upstream a
model config built from the kit's own preset numbers. The fields that are not in the preset are
upstream's SeMask-FPN Cityscapes defaults (training-only knobs such as drop_path_rate and the loss
do not change inference). tests/test_crosscheck.py checks the result equals the golden vectors'
config, tests/fixtures/config_reduced.json's "model".
"""
from __future__ import annotations

from typing import Any

from semask.model.config import SeMaskConfig


def mmseg_model_cfg(cfg: SeMaskConfig) -> dict[str, Any]:
    """The `model` dict of an mmseg config that builds upstream's SeMask-FPN with `cfg`'s sizes."""
    stages = list(range(len(cfg.depths)))
    backbone = {
        "type": "SeMaskSwinTransformer", "embed_dim": cfg.embed_dim, "depths": list(cfg.depths),
        "num_heads": list(cfg.num_heads), "window_size": cfg.window_size, "num_cls": cfg.num_classes,
        "sem_window_size": cfg.sem_window_size, "num_sem_blocks": list(cfg.num_sem_blocks),
        "mlp_ratio": cfg.mlp_ratio, "qkv_bias": True, "qk_scale": None, "drop_rate": 0.0, "attn_drop_rate": 0.0,
        "drop_path_rate": 0.3, "ape": False, "patch_norm": True, "out_indices": stages, "use_checkpoint": False,
    }
    decode_head = {
        "type": "BranchFPNHead", "in_channels": list(cfg.stage_dims), "in_index": stages,
        "feature_strides": [4 * 2**i for i in stages], "channels": cfg.head_channels, "dropout_ratio": 0.1,
        "cate_w": 0.4, "num_classes": cfg.num_classes, "norm_cfg": {"type": "BN", "requires_grad": True},
        "align_corners": False,
        "loss_decode": {"type": "CrossEntropyLoss", "use_sigmoid": False, "loss_weight": 1.0},
    }
    return {"type": "EncoderDecoder", "pretrained": None, "backbone": backbone, "decode_head": decode_head,
            "train_cfg": {}, "test_cfg": {"mode": "whole"}}
