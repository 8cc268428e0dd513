"""semask.model.agreement and semask.evaluate.upstream.compare: the comparison on synthetic arrays, inputs, random weights,
and (when an upstream clone and env/upstream/venv exist) the real upstream-vs-kit run on the reduced config."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import FIXTURES, ROOT
from semask.model import agreement as ag
from semask.evaluate.upstream import compare as cc
from semask.core.errors import KitError
from semask.data.synthetic import frame_image


def logits(shape=(19, 70, 40), seed=0) -> np.ndarray:
    return np.random.default_rng(seed).normal(0, 2, size=shape).astype(np.float32)


# ---------------------------------------------------------------------------------------------
# comparison
# ---------------------------------------------------------------------------------------------
def test_top2_margin():
    x = np.zeros((3, 1, 2), np.float32)
    x[:, 0, 0] = [1.0, 3.0, 2.5]
    x[:, 0, 1] = [4.0, 4.0, -1.0]  # a tie
    lab, margin = ag.top2_margin(x)
    assert lab.tolist() == [[1, 0]]
    np.testing.assert_allclose(margin, [[0.5, 0.0]])


def test_identical_logits_pass():
    ref = logits()
    agree = ag.Agreement()
    stats = agree.add(ref, ref.copy())
    assert stats["max_abs_diff"] == 0.0 and stats["label_agreement"] == 1.0
    s = agree.summary()
    assert s["passed"] and s["label_agreement"] == 1.0 and s["disagree_margin_share"] == 0.0
    assert s["pixels"] == 70 * 40


def test_small_noise_passes_and_large_noise_fails():
    ref = logits(seed=1)
    ok = ag.Agreement()
    ok.add(ref, ref + np.float32(5e-5))
    assert ok.passed and ok.max_abs_diff == pytest.approx(5e-5, rel=1e-2)
    bad = ag.Agreement()
    noisy = ref.copy()
    noisy[3, 65, 7] += 2e-4  # one logit in the last row chunk (> ROWS_PER_CHUNK)
    bad.add(ref, noisy)
    assert not bad.passed
    assert bad.max_abs_diff == pytest.approx(2e-4, rel=1e-2)
    assert "max abs logit difference" in bad.failures()[0]


def test_label_flips_count_only_when_margin_is_real():
    ref = logits(seed=2)
    lab, margin = ag.top2_margin(ref)
    labels = lab.copy()
    # a near-tie pixel: make its top-2 margin tiny in the reference, then pick the runner-up
    ref[:, 5, 5] = 0.0
    ref[4, 5, 5], ref[9, 5, 5] = 1.0, 1.0 - 5e-4
    labels[5, 5] = 9
    agree = ag.Agreement()
    agree.add(ref, labels)  # labels-only candidate (an ONNX that outputs argmax)
    assert agree.max_abs_diff is None
    assert agree.disagree == 1 and agree.disagree_over_margin == 0 and agree.passed
    assert agree.label_agreement == pytest.approx(1 - 1 / (70 * 40))
    # a clear pixel with a wrong label fails
    labels[60, 30] = (lab[60, 30] + 1) % 19
    agree.add(ref, labels)
    assert agree.images == 2 and agree.disagree == 3 and agree.disagree_over_margin == 1
    assert agree.disagree_margin_share == pytest.approx(1 / 3)
    assert not agree.passed and "top-2 margin" in agree.failures()[0]


def test_nan_candidate_fails_and_shape_mismatch_is_a_kit_error():
    ref = logits(seed=3)
    cand = ref.copy()
    cand[0, 0, 0] = np.nan
    agree = ag.Agreement()
    agree.add(ref, cand)
    assert not agree.passed and agree.max_abs_diff == float("inf")
    with pytest.raises(KitError, match="does not match"):
        ag.Agreement().add(ref, ref[:, :-1])


def test_no_images_is_not_a_pass():
    assert not ag.Agreement().passed


# ---------------------------------------------------------------------------------------------
# inputs and weights
# ---------------------------------------------------------------------------------------------
def test_normalise_bgr_is_the_cityscapes_normalisation():
    bgr = np.zeros((2, 3, 3), np.uint8)
    bgr[0, 0] = (10, 20, 30)  # B, G, R
    x = cc.normalise_bgr(bgr)
    assert x.shape == (1, 3, 2, 3) and x.dtype == np.float32
    mean, std = np.array([123.675, 116.28, 103.53]), np.array([58.395, 57.12, 57.375])
    np.testing.assert_allclose(x[0, :, 0, 0], (np.array([30, 20, 10]) - mean) / std, rtol=1e-6)  # RGB order
    np.testing.assert_allclose(x[0, :, 1, 2], -mean / std, rtol=1e-6)


def test_cityscapes_images_natural_order(tmp_path):
    assert cc.cityscapes_images(None, 3) == []
    assert cc.cityscapes_images(tmp_path, 3) == []
    for city, name in [("lindau", "lindau_000010_000019"), ("frankfurt", "frankfurt_000000_000294"),
                       ("frankfurt", "frankfurt_000000_000019")]:
        d = tmp_path / "leftImg8bit" / "val" / city
        d.mkdir(parents=True, exist_ok=True)
        (d / f"{name}_leftImg8bit.png").write_bytes(b"")
    got = [p.name for p in cc.cityscapes_images(tmp_path, 2)]
    assert got == ["frankfurt_000000_000019_leftImg8bit.png", "frankfurt_000000_000294_leftImg8bit.png"]


def test_random_checkpoint_is_seeded_and_exercises_the_semantic_attention(tmp_path):
    import torch

    from semask.model.network import build_model

    model = build_model("reduced")
    assert not cc._semantic_attention_live(model.state_dict())  # gamma / mlp_res start at zero
    assert cc.make_random_checkpoint(model, tmp_path / "a.pth", 7) == "semask.model.checkpoint.random_state_dict"
    cc.make_random_checkpoint(model, tmp_path / "b.pth", 7)
    cc.make_random_checkpoint(model, tmp_path / "c.pth", 8)
    a, b, c = (torch.load(tmp_path / f"{n}.pth", weights_only=True) for n in "abc")
    assert list(a) == list(model.state_dict())  # a plain state dict with the upstream key names
    assert cc._semantic_attention_live(a)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a["backbone.patch_embed.proj.weight"], c["backbone.patch_embed.proj.weight"])
    cc.kit_load(model, tmp_path / "a.pth")
    assert torch.equal(model.state_dict()["backbone.layers.0.semantic_layer.class_injection.0.gamma"],
                       a["backbone.layers.0.semantic_layer.class_injection.0.gamma"])


def test_reduced_upstream_config_is_the_golden_vectors_config():
    """The crosscheck builds upstream's `reduced` model from the kit's preset; it must be the golden config."""
    from semask.model.network import PRESETS
    from semask.evaluate.upstream.model_cfg import mmseg_model_cfg

    assert mmseg_model_cfg(PRESETS["reduced"]) == json.loads((FIXTURES / "config_reduced.json").read_text())["model"]


def test_crosscheck_options_are_checked_before_any_work(tmp_path):
    opts = cc.CrosscheckOptions(tmp_path, "huge", "random", 1, 64, 128, tmp_path / "cc.json")
    with pytest.raises(KitError, match="MODEL=huge is not one of: tiny small"):
        cc.crosscheck(opts, log=lambda m: None)
    (tmp_path / cc.FPN_DIR / "mmseg").mkdir(parents=True)
    (tmp_path / cc.FPN_DIR / "mmseg" / "__init__.py").write_text("")
    opts = cc.CrosscheckOptions(tmp_path, "reduced", str(tmp_path / "no.pth"), 1, 64, 128, tmp_path / "cc.json")
    with pytest.raises(KitError, match="WEIGHTS=.*no.pth does not exist"):
        cc.crosscheck(opts, log=lambda m: None)
    assert not (tmp_path / "cc.json").exists()


def test_kit_side_writes_inputs_and_logits(tmp_path):
    """The kit's half without upstream: synthetic inputs, seeded random checkpoint, logits per image."""
    opts = cc.CrosscheckOptions(tmp_path, "reduced", "random", 2, 64, 128, tmp_path / "cc.json", onnx=tmp_path / "m")
    inputs, files = cc.write_inputs(opts, tmp_path)
    assert files == [] and [p.name for p in inputs] == ["input_0.npy", "input_1.npy"]
    assert np.load(tmp_path / "raw_1.npy").shape == (1, 3, 64, 128)
    report: dict = {}
    ckpt = cc.run_kit(opts, inputs, tmp_path, report, log=lambda m: None)
    assert ckpt == tmp_path / "random_weights.pth" and report["weights_seed"] == cc.WEIGHT_SEED
    assert np.load(tmp_path / "kit_0.npy").shape == (19, 64, 128) and len(report["kit"]["seconds_per_image"]) == 2


def test_cli_names_a_missing_upstream(tmp_path):
    proc = subprocess.run([sys.executable, str(ROOT / "tools" / "crosscheck.py"), "--upstream", str(tmp_path / "nope"),
                           "--out-json", str(tmp_path / "r.json")], capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: UPSTREAM=") and "make upstream" in proc.stderr


# ---------------------------------------------------------------------------------------------
# real upstream (only where a clone and env/upstream/venv exist)
# ---------------------------------------------------------------------------------------------
from upstream_helpers import UPSTREAM, needs_upstream, run_crosscheck  # noqa: E402


@pytest.mark.slow
@needs_upstream
@pytest.mark.parametrize("case", ["1x3x64x128", "1x3x90x150"])
def test_upstream_runner_reproduces_golden_vectors(tmp_path, case):
    """Self-check of the upstream half: reduced config + weights_reduced.npz -> the golden seg_logits."""
    vec = np.load(FIXTURES / f"vectors_reduced_{case}.npz")
    np.save(tmp_path / "in.npy", vec["input"])
    info = cc.run_upstream(cc.UpstreamRun(UPSTREAM, "reduced", FIXTURES / "weights_reduced.npz", [tmp_path / "in.npy"],
                                          tmp_path))
    assert info["int_buffer_mismatches"] == [] and "torchvision_stub" in info["patches"]
    up = np.load(tmp_path / "upstream_0.npy")
    assert up.shape == vec["seg_logits"].shape[1:]
    assert float(np.abs(up - vec["seg_logits"][0]).max()) < 1e-4


@pytest.mark.slow
@needs_upstream
def test_crosscheck_cli_reduced_random_weights(tmp_path):
    out = tmp_path / "cc.json"
    proc = run_crosscheck(out, 2, 90, 150)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(out.read_text())
    assert report["passed"] and report["inputs"]["kind"] == "synthetic"
    kvu = report["kit_vs_upstream"]
    assert kvu["images"] == 2 and kvu["max_abs_diff"] <= 1e-4 and kvu["disagree_over_margin"] == 0
    assert report["upstream"]["int_buffer_mismatches"] == []
    # the model-free exactness checks (semask.evaluate.upstream.checks) run inside every crosscheck and report both lines
    assert "preprocess: bit-identical (" in proc.stdout and "labels: identical (3 frames)" in proc.stdout
    assert report["exact"]["preprocess"]["failures"] == [] and report["exact"]["labels"]["failures"] == []
    assert "max abs logit diff" in proc.stdout


@pytest.mark.slow
@needs_upstream
def test_crosscheck_tiny_builds_from_the_upstream_cityscapes_config(tmp_path):
    """The Cityscapes config path (SyncBN -> BN override, mmcv load_checkpoint) at a small input size."""
    report = cc.crosscheck(cc.CrosscheckOptions(UPSTREAM, "tiny", "random", 1, 64, 128, tmp_path / "cc.json"),
                            log=lambda m: None)
    assert report["passed"]
    assert report["upstream"]["syncbn_replaced"] >= 1
    assert report["upstream"]["config_file"].endswith(cc.UPSTREAM_CONFIGS["tiny"])
    assert report["upstream"]["num_parameters"] == report["kit"]["num_parameters"] == 34_243_753


@pytest.mark.slow
@needs_upstream
def test_crosscheck_reads_cityscapes_frames_and_runs_upstream_pipeline(tmp_path):
    import cv2

    city = tmp_path / "cs" / "leftImg8bit" / "val" / "lindau"
    city.mkdir(parents=True)
    for i in range(2):
        cv2.imwrite(str(city / f"lindau_000000_{19 + i:06d}_leftImg8bit.png"), frame_image(i, 64, 128, seed=3))
    report = cc.crosscheck(cc.CrosscheckOptions(UPSTREAM, "tiny", "random", 2, 64, 128, tmp_path / "cc.json",
                                                data_root=tmp_path / "cs"), log=lambda m: None)
    assert report["passed"] and report["inputs"]["kind"] == "cityscapes" and len(report["inputs"]["files"]) == 2
    # upstream's own test pipeline ran on the same files (it rescales 128x64 frames to 2048x1024)
    assert [p["upstream_shape"] for p in report["upstream"]["preprocess_max_abs_diff"]] == [[1, 3, 1024, 2048]] * 2


def _conv_onnx(path: Path, batch: int, labels: bool, h: int = 8, w: int = 12) -> np.ndarray:
    """A stand-in 'kit ONNX': input `image` (B,3,H,W) -> 1x1 conv to 19 classes (-> ArgMax for labels)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    weight = np.random.default_rng(0).normal(size=(19, 3, 1, 1)).astype(np.float32)
    nodes = [helper.make_node("Conv", ["image", "W"], ["logits" if labels else "output"])]
    if labels:
        nodes.append(helper.make_node("ArgMax", ["logits"], ["output"], axis=1, keepdims=0))
    out = (helper.make_tensor_value_info("output", TensorProto.INT64, [batch, h, w]) if labels
           else helper.make_tensor_value_info("output", TensorProto.FLOAT, [batch, 19, h, w]))
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("image", TensorProto.FLOAT, [batch, 3, h, w])],
                              [out], initializer=[numpy_helper.from_array(weight, "W")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, path)
    return weight[:, :, 0, 0]


@pytest.mark.parametrize("labels,batch", [(False, 1), (True, 1), (True, 2)])
def test_run_onnx_handles_logits_and_labels(tmp_path, labels, batch):
    weight = _conv_onnx(tmp_path / "m.onnx", batch, labels)
    x = np.random.default_rng(1).normal(size=(1, 3, 8, 12)).astype(np.float32)
    np.save(tmp_path / "in.npy", x)
    outs, info = cc.run_onnx(tmp_path / "m.onnx", [tmp_path / "in.npy"])
    ref = np.einsum("kc,chw->khw", weight, x[0])
    assert info["output_kind"] == ("labels" if labels else "logits") and info["input"] == "image"
    agree = ag.Agreement()
    agree.add(ref, outs[0])
    assert agree.passed and agree.label_agreement == 1.0


def test_run_onnx_rejects_a_size_mismatch(tmp_path):
    _conv_onnx(tmp_path / "m.onnx", 1, False)
    np.save(tmp_path / "in.npy", np.zeros((1, 3, 16, 12), np.float32))
    with pytest.raises(KitError, match="pass matching --height/--width"):
        cc.run_onnx(tmp_path / "m.onnx", [tmp_path / "in.npy"])


@pytest.mark.slow
@needs_upstream
def test_crosscheck_mmcv_checkpoint_whose_meta_torch_refuses(tmp_path):
    """mmcv 1.3's torch.load runs weights_only under torch 2.13; odd meta falls back to the state_dict."""
    import argparse

    import torch

    from semask.model.checkpoint import random_state_dict
    from semask.model.network import build_model

    ckpt = tmp_path / "mmcv.pth"
    torch.save({"state_dict": random_state_dict(build_model("reduced"), 3),
                "meta": {"args": argparse.Namespace(a=1), "iter": 80000}}, ckpt)
    report = cc.crosscheck(cc.CrosscheckOptions(UPSTREAM, "reduced", str(ckpt), 1, 64, 128, tmp_path / "cc.json"),
                           log=lambda m: None)
    assert report["passed"] and "plain .pth" in report["upstream"]["weights_note"]


@pytest.mark.slow
@needs_upstream
def test_crosscheck_mmcv_checkpoint_loads_with_upstreams_loader(tmp_path):
    import torch

    from semask.model.checkpoint import random_state_dict
    from semask.model.network import build_model

    ckpt = tmp_path / "mmcv.pth"
    torch.save({"state_dict": random_state_dict(build_model("reduced"), 4), "meta": {"iter": 80000}}, ckpt)
    report = cc.crosscheck(cc.CrosscheckOptions(UPSTREAM, "reduced", str(ckpt), 1, 64, 128, tmp_path / "cc.json"),
                           log=lambda m: None)
    assert report["passed"] and "weights_note" not in report["upstream"]
