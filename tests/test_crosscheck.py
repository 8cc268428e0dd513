"""semask.crosscheck: the comparison on synthetic arrays, inputs, random weights, and (when an upstream
clone and env/upstream/venv exist) the real upstream-vs-kit run on the reduced config."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import FIXTURES, ROOT
from semask import crosscheck as cc
from semask.errors import KitError


def logits(shape=(19, 70, 40), seed=0) -> np.ndarray:
    return np.random.default_rng(seed).normal(0, 2, size=shape).astype(np.float32)


# ---------------------------------------------------------------------------------------------
# comparison
# ---------------------------------------------------------------------------------------------
def test_top2_margin():
    x = np.zeros((3, 1, 2), np.float32)
    x[:, 0, 0] = [1.0, 3.0, 2.5]
    x[:, 0, 1] = [4.0, 4.0, -1.0]  # a tie
    lab, margin = cc.top2_margin(x)
    assert lab.tolist() == [[1, 0]]
    np.testing.assert_allclose(margin, [[0.5, 0.0]])


def test_identical_logits_pass():
    ref = logits()
    agree = cc.Agreement()
    stats = agree.add(ref, ref.copy())
    assert stats["max_abs_diff"] == 0.0 and stats["label_agreement"] == 1.0
    s = agree.summary()
    assert s["passed"] and s["label_agreement"] == 1.0 and s["disagree_margin_share"] == 0.0
    assert s["pixels"] == 70 * 40


def test_small_noise_passes_and_large_noise_fails():
    ref = logits(seed=1)
    ok = cc.Agreement()
    ok.add(ref, ref + np.float32(5e-5))
    assert ok.passed and ok.max_abs_diff == pytest.approx(5e-5, rel=1e-2)
    bad = cc.Agreement()
    noisy = ref.copy()
    noisy[3, 65, 7] += 2e-4  # one logit in the last row chunk (> ROWS_PER_CHUNK)
    bad.add(ref, noisy)
    assert not bad.passed
    assert bad.max_abs_diff == pytest.approx(2e-4, rel=1e-2)
    assert "max abs logit difference" in bad.failures()[0]


def test_label_flips_count_only_when_margin_is_real():
    ref = logits(seed=2)
    lab, margin = cc.top2_margin(ref)
    labels = lab.copy()
    # a near-tie pixel: make its top-2 margin tiny in the reference, then pick the runner-up
    ref[:, 5, 5] = 0.0
    ref[4, 5, 5], ref[9, 5, 5] = 1.0, 1.0 - 5e-4
    labels[5, 5] = 9
    agree = cc.Agreement()
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
    agree = cc.Agreement()
    agree.add(ref, cand)
    assert not agree.passed and agree.max_abs_diff == float("inf")
    with pytest.raises(KitError, match="does not match"):
        cc.Agreement().add(ref, ref[:, :-1])


def test_no_images_is_not_a_pass():
    assert not cc.Agreement().passed


# ---------------------------------------------------------------------------------------------
# inputs and weights
# ---------------------------------------------------------------------------------------------
def test_normalise_bgr_matches_the_cityscapes_pipeline():
    bgr = np.zeros((2, 3, 3), np.uint8)
    bgr[0, 0] = (10, 20, 30)  # B, G, R
    x = cc.normalise_bgr(bgr)
    assert x.shape == (1, 3, 2, 3) and x.dtype == np.float32
    expect = (np.array([30, 20, 10], np.float32) - cc.MEAN_RGB) / cc.STD_RGB  # RGB order
    np.testing.assert_allclose(x[0, :, 0, 0], expect, rtol=1e-6)
    np.testing.assert_allclose(x[0, :, 1, 2], -cc.MEAN_RGB / cc.STD_RGB, rtol=1e-6)


def test_synthetic_images_are_deterministic_and_structured():
    a = cc.synthetic_bgr(0, 64, 128)
    assert a.shape == (64, 128, 3) and a.dtype == np.uint8
    assert np.array_equal(a, cc.synthetic_bgr(0, 64, 128))
    assert not np.array_equal(a, cc.synthetic_bgr(1, 64, 128))
    assert a.std() > 10  # not flat


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


def reduced_state():
    import torch

    cfg = json.loads((FIXTURES / "config_reduced.json").read_text())
    golden = np.load(FIXTURES / "weights_reduced.npz")
    state = {}
    for e in cfg["manifest"]["entries"]:
        dtype = getattr(torch, e["dtype"])
        state[e["key"]] = (torch.from_numpy(golden[e["key"]]) if not dtype.is_floating_point
                           else torch.zeros(e["shape"], dtype=dtype))
    return cfg, golden, state


def test_random_weights_reproduce_the_golden_recipe():
    """The generator follows config_reduced.json's init recipe: same seed, same tensors, bit for bit."""
    cfg, golden, state = reduced_state()
    out = cc.random_state_dict(state, cfg["weight_seed"])
    assert list(out) == list(state)
    for key, value in out.items():
        assert np.array_equal(value.numpy(), golden[key]), key


def test_random_weights_exercise_the_semantic_attention():
    _, _, state = reduced_state()
    out = cc.random_state_dict(state, 7)
    assert cc._semantic_attention_live(out)
    assert not cc._semantic_attention_live(state)  # all-zero start
    other = cc.random_state_dict(state, 8)
    assert not np.array_equal(out["backbone.patch_embed.proj.weight"], other["backbone.patch_embed.proj.weight"])


def test_read_state_dict_mmcv_and_plain(tmp_path):
    import torch

    sd = {"a.weight": torch.ones(2), "b.running_var": torch.zeros(1)}
    torch.save({"state_dict": {f"module.{k}": v for k, v in sd.items()}, "meta": {"iter": 1}}, tmp_path / "m.pth")
    torch.save(sd, tmp_path / "p.pth")
    np.savez(tmp_path / "w.npz", **{k: v.numpy() for k, v in sd.items()})
    for name in ("m.pth", "p.pth", "w.npz"):
        got = cc.read_state_dict(tmp_path / name)
        assert set(got) == set(sd) and torch.equal(got["a.weight"], sd["a.weight"])
    with pytest.raises(KitError, match="does not exist"):
        cc.read_state_dict(tmp_path / "missing.pth")


def test_cli_names_a_missing_upstream(tmp_path):
    proc = subprocess.run([sys.executable, str(ROOT / "tools" / "crosscheck.py"), "--upstream", str(tmp_path / "nope"),
                           "--out-json", str(tmp_path / "r.json")], capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: UPSTREAM=") and "make upstream" in proc.stderr


# ---------------------------------------------------------------------------------------------
# real upstream (only where a clone and env/upstream/venv exist)
# ---------------------------------------------------------------------------------------------
def _upstream() -> Path | None:
    clone = Path(os.environ.get("UPSTREAM_REPO") or ROOT / "data" / "upstream" / "SeMask-Segmentation")
    return clone if (clone / cc.FPN_DIR / "mmseg").is_dir() else None


UPSTREAM = _upstream()
UPSTREAM_PY = Path(os.environ.get("UPSTREAM_PYTHON") or cc.UPSTREAM_PYTHON)
needs_upstream = pytest.mark.skipif(
    UPSTREAM is None or not UPSTREAM_PY.exists(),
    reason=("needs an upstream clone (UPSTREAM_REPO or data/upstream/SeMask-Segmentation, `make upstream`) "
            "and env/upstream/venv (`bash env/upstream/setup.sh`)"),
)


@pytest.mark.slow
@needs_upstream
@pytest.mark.parametrize("case", ["1x3x64x128", "1x3x90x150"])
def test_upstream_runner_reproduces_golden_vectors(tmp_path, case):
    """Self-check of the upstream half: reduced config + weights_reduced.npz -> the golden seg_logits."""
    vec = np.load(FIXTURES / f"vectors_reduced_{case}.npz")
    np.save(tmp_path / "in.npy", vec["input"])
    info = cc.run_upstream(UPSTREAM, "reduced", FIXTURES / "weights_reduced.npz", [tmp_path / "in.npy"], tmp_path)
    assert info["int_buffer_mismatches"] == [] and "torchvision_stub" in info["patches"]
    up = np.load(tmp_path / "upstream_0.npy")
    assert up.shape == vec["seg_logits"].shape[1:]
    assert float(np.abs(up - vec["seg_logits"][0]).max()) < 1e-4


@pytest.mark.slow
@needs_upstream
def test_crosscheck_cli_reduced_random_weights(tmp_path):
    out = tmp_path / "cc.json"
    proc = subprocess.run([sys.executable, str(ROOT / "tools" / "crosscheck.py"), "--upstream", str(UPSTREAM),
                           "--model", "reduced", "--weights", "random", "--num", "2", "--height", "90", "--width", "150",
                           "--out-json", str(out)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(out.read_text())
    assert report["passed"] and report["inputs"]["kind"] == "synthetic"
    kvu = report["kit_vs_upstream"]
    assert kvu["images"] == 2 and kvu["max_abs_diff"] <= 1e-4 and kvu["disagree_over_margin"] == 0
    assert report["upstream"]["int_buffer_mismatches"] == []
    assert "max abs logit diff" in proc.stdout


@pytest.mark.slow
@needs_upstream
def test_crosscheck_small_model_builds_from_upstream_config(tmp_path):
    """The Cityscapes config path (SyncBN -> BN override, mmcv load_checkpoint) at a small input size."""
    report = cc.crosscheck(UPSTREAM, "tiny", "random", 1, 64, 128, None, None, tmp_path / "cc.json", log=lambda m: None)
    assert report["passed"]
    assert report["upstream"]["syncbn_replaced"] >= 1
    assert report["upstream"]["config_file"].endswith(cc.UPSTREAM_CONFIGS["tiny"])
    assert report["upstream"]["num_parameters"] == report["kit"]["num_parameters"] == 34_243_753
