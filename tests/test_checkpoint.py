"""Checkpoint loading: official mmcv layout, plain state dicts, npz, strictness, no pickled code."""
import argparse
import collections
import datetime
import subprocess

import numpy as np
import pytest
import torch

from semask.model.checkpoint import load_weights, random_state_dict, read_state_dict
from semask.core.errors import KitError
from semask.model.network import build_model


class Exploding:
    """Pickles as a reference to a class the loader must never import or call."""

    def __reduce__(self):
        return (subprocess.call, (["sh", "-c", "echo pwned > /tmp/semask_pwned"],))


def _reduced_sd(fixtures):
    with np.load(fixtures / "weights_reduced.npz") as w:
        return {k: torch.from_numpy(w[k]) for k in w.files}


def test_official_mmcv_layout_with_module_prefix_and_odd_meta(tmp_path, fixtures):
    sd = _reduced_sd(fixtures)
    # objects weights_only does not know, as real checkpoints carry in meta, must not block loading
    odd = {"args": argparse.Namespace(lr=0.1), "time": datetime.datetime(2021, 7, 1), "hist": collections.Counter("ab"),
           "np_scalar": np.float64(1.5), "np_array": np.arange(3)}
    ckpt = {"meta": {"CLASSES": ("road",), "mmcv_version": "1.3.0", **odd},
            "state_dict": {"module." + k: v for k, v in sd.items()}, "optimizer": {"state": {}}}
    path = tmp_path / "official.pth"
    torch.save(ckpt, path)
    model = build_model("reduced")
    info = load_weights(model, path)
    assert info["trained"] and len(info["sha256"]) == 64
    assert torch.equal(model.state_dict()["backbone.norm3.bias"], sd["backbone.norm3.bias"])


def test_plain_state_dict_and_npz_load_the_same(tmp_path, fixtures):
    sd = _reduced_sd(fixtures)
    torch.save(sd, tmp_path / "plain.pth")
    a, b = build_model("reduced"), build_model("reduced")
    load_weights(a, tmp_path / "plain.pth")
    load_weights(b, fixtures / "weights_reduced.npz")
    for k, v in a.state_dict().items():
        assert torch.equal(v, b.state_dict()[k]), k


def test_pickled_code_is_never_executed(tmp_path, fixtures):
    marker = "/tmp/semask_pwned"
    subprocess.call(["rm", "-f", marker])
    sd = _reduced_sd(fixtures)
    path = tmp_path / "evil.pth"
    torch.save({"meta": {"x": Exploding()}, "state_dict": sd}, path)
    model = build_model("reduced")
    load_weights(model, path)
    assert not __import__("os").path.exists(marker)


def test_wrong_variant_names_keys_and_guesses(tmp_path, fixtures):
    torch.save(_reduced_sd(fixtures), tmp_path / "reduced.pth")
    with pytest.raises(KitError) as err:
        load_weights(build_model("tiny"), tmp_path / "reduced.pth")
    msg = str(err.value)
    assert "reduced.pth" in msg and "wrong shape" in msg and "MODEL=reduced" in msg


def test_missing_and_unexpected_keys_are_listed(tmp_path, fixtures):
    sd = _reduced_sd(fixtures)
    sd.pop("decode_head.conv_seg.bias")
    sd["extra.thing"] = torch.zeros(1)
    torch.save(sd, tmp_path / "bad.pth")
    with pytest.raises(KitError) as err:
        load_weights(build_model("reduced"), tmp_path / "bad.pth")
    assert "missing: decode_head.conv_seg.bias" in str(err.value)
    assert "unexpected: extra.thing" in str(err.value)


@pytest.mark.parametrize("content", [b"", b"not a checkpoint at all", b"PK\x03\x04garbage"])
def test_non_checkpoint_is_a_clear_error(tmp_path, content):
    path = tmp_path / "weights.pth"
    path.write_bytes(content)
    with pytest.raises(KitError, match="weights.pth"):
        read_state_dict(path)


def test_missing_file_says_what_to_do(tmp_path):
    with pytest.raises(KitError, match="WEIGHTS=random"):
        read_state_dict(tmp_path / "nope.pth")


def test_random_weights_are_seeded_loud_and_exercise_semantic_attention(capsys):
    a, b = build_model("reduced"), build_model("reduced")
    info = load_weights(a, "random", seed=3)
    load_weights(b, "random", seed=3)
    assert not info["trained"]
    assert "NOT a trained model" in capsys.readouterr().err
    for k, v in a.state_dict().items():
        assert torch.equal(v, b.state_dict()[k])
    gammas = [v for k, v in a.state_dict().items() if k.endswith("gamma")]
    assert all(float(g.abs()) > 0.1 for g in gammas)
    assert not torch.equal(random_state_dict(a, 1)["decode_head.conv_seg.weight"],
                           random_state_dict(a, 2)["decode_head.conv_seg.weight"])


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_weights_are_refused_naming_the_first_key(tmp_path, fixtures, bad):
    """Issue 11 case 5: NaN/Inf weights used to export and give a plausible-looking table."""
    with np.load(fixtures / "weights_reduced.npz") as npz:
        arrays = {k: np.array(npz[k]) for k in npz.files}
    model = build_model("reduced")
    keys = [k for k in model.state_dict() if arrays[k].dtype.kind == "f"]
    first, later = keys[3], keys[-1]
    arrays[first].flat[0] = bad
    arrays[later].flat[-1] = bad
    path = tmp_path / "broken.npz"
    np.savez(path, **arrays)
    with pytest.raises(KitError, match=rf"WEIGHTS file {path} has non-finite values .* in '{first}' \(1 of "):
        load_weights(model, path)
