"""The kit's SeMask-FPN equals upstream: golden vectors computed with the upstream code."""
import json

import numpy as np
import pytest
import torch

from semask.model.checkpoint import load_weights
from semask.model.network import PRESETS, build_model

CASES = ["vectors_reduced_1x3x64x128.npz", "vectors_reduced_1x3x90x150.npz"]
TOL = 1e-4


@pytest.fixture(scope="module")
def reduced(fixtures):
    model = build_model("reduced")
    load_weights(model, fixtures / "weights_reduced.npz")
    return model


def _hook_outputs(model):
    """Capture the intermediate tensors the golden vectors name (dbg.*)."""
    seen = {}

    def keep(name):
        def hook(_module, _inputs, output):
            seen[name] = output
        return hook

    handles = [model.backbone.patch_embed.register_forward_hook(keep("dbg.patch_embed"))]
    for i, stage in enumerate(model.backbone.layers):
        for j, block in enumerate(stage.blocks):
            handles.append(block.register_forward_hook(keep(f"dbg.layers.{i}.blocks.{j}")))
        handles.append(stage.semantic_layer.register_forward_hook(keep(f"dbg.layers.{i}.semantic_layer")))
        if stage.downsample is not None:
            handles.append(stage.downsample.register_forward_hook(keep(f"dbg.layers.{i}.downsample")))
    for i, head in enumerate(model.decode_head.scale_heads):
        handles.append(head.register_forward_hook(keep(f"dbg.decode_head.scale_heads.{i}")))
    return seen, handles


@pytest.mark.parametrize("case", CASES)
def test_every_stage_matches_upstream(reduced, fixtures, case):
    gold = np.load(fixtures / case)
    x = torch.from_numpy(gold["input"])
    seen, handles = _hook_outputs(reduced)
    try:
        with torch.no_grad():
            feats, sems = reduced.backbone(x)
            seg, cls = reduced.decode_head(feats, sems, with_cls=True)
            logits = reduced(x)
    finally:
        for h in handles:
            h.remove()
    got = {f"backbone_feat{i}": f for i, f in enumerate(feats)}
    got.update({f"backbone_sem{i}": s for i, s in enumerate(sems)})
    got.update(decode_seg_logits=seg, decode_cls_logits=cls, seg_logits=logits)
    got["seg_prob"] = logits.softmax(dim=1)
    for name, value in seen.items():
        if name.endswith("semantic_layer"):
            got[name + ".out0"], got[name + ".out1"] = value
        elif name == "dbg.patch_embed":
            b, _, h, w = gold["input"].shape
            got[name] = value.reshape(b, -(-h // 4), -(-w // 4), -1).permute(0, 3, 1, 2)
        else:
            got[name] = value
    float_keys = [k for k in gold.files if k not in ("input", "pred", "pred_margin")]
    missing = [k for k in float_keys if k not in got]
    assert not missing, f"golden keys not produced: {missing}"
    for key in float_keys:
        diff = np.abs(got[key].detach().numpy() - gold[key]).max()
        assert diff <= TOL, f"{case} {key}: max abs diff {diff:.3g} > {TOL}"
    pred = logits.argmax(dim=1).numpy()
    confident = gold["pred_margin"] > 1e-3
    assert np.array_equal(pred[confident], gold["pred"][confident])


@pytest.mark.parametrize("name,manifest", [("small", "manifest_semask_s_cityscapes.json"),
                                           ("tiny", "manifest_semask_t_cityscapes.json")])
def test_state_dict_matches_official_manifest(fixtures, name, manifest):
    entries = json.loads((fixtures / manifest).read_text())["entries"]
    with torch.device("meta"):
        sd = build_model(name).state_dict()
    assert list(sd) == [e["key"] for e in entries], "keys (and their order) differ from the official checkpoint"
    for e in entries:
        assert list(sd[e["key"]].shape) == e["shape"], e["key"]
        assert str(sd[e["key"]].dtype).replace("torch.", "") == e["dtype"], e["key"]


def test_reduced_preset_matches_golden_config(fixtures):
    cfg = json.loads((fixtures / "config_reduced.json").read_text())["model"]
    bb, head = cfg["backbone"], cfg["decode_head"]
    p = PRESETS["reduced"]
    assert (p.embed_dim, list(p.depths), list(p.num_heads)) == (bb["embed_dim"], bb["depths"], bb["num_heads"])
    assert (p.window_size, p.sem_window_size, list(p.num_sem_blocks)) == (bb["window_size"], bb["sem_window_size"], bb["num_sem_blocks"])
    assert (list(p.stage_dims), p.head_channels, p.num_classes) == (head["in_channels"], head["channels"], head["num_classes"])
    with np.load(fixtures / "weights_reduced.npz") as w:
        assert set(build_model("reduced").state_dict()) == set(w.files)


@pytest.mark.parametrize("name,ws", [("base", 12), ("large", 12), ("tiny", 7)])
def test_relative_position_table_follows_window(name, ws):
    with torch.device("meta"):
        sd = build_model(name).state_dict()
    assert sd["backbone.layers.0.blocks.0.attn.relative_position_bias_table"].shape[0] == (2 * ws - 1) ** 2
    assert sd["backbone.layers.0.blocks.0.attn.relative_position_index"].shape == (ws * ws, ws * ws)


@pytest.mark.parametrize("hw", [(32, 32), (33, 47), (56, 56), (100, 36)])
def test_any_size_at_least_32(reduced, hw):
    """Odd sizes pad in patch-embed/merging; a stage of exactly one window must work (upstream crashes on export there)."""
    x = torch.randn(2, 3, *hw)
    with torch.no_grad():
        out = reduced(x)
    assert out.shape == (2, 19, *hw) and out.dtype == torch.float32
    with torch.no_grad():  # batch elements are independent
        assert torch.allclose(reduced(x[1:]), out[1:], atol=1e-5)
