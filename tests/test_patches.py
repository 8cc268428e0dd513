"""patches/upstream_compat.py, tested in the kit's venv (no mmcv, no torchvision, no upstream clone).

Anything that touches sys.modules runs in a fresh interpreter so the test session stays clean.
"""
from __future__ import annotations

import copy
import subprocess
import sys
import textwrap

import pytest

from conftest import ROOT

sys.path.insert(0, str(ROOT))
import patches.upstream_compat as compat  # noqa: E402


def run_py(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT, capture_output=True, text=True,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})


def upstream_like_model_cfg() -> dict:
    """The shape of SeMask-FPN/configs/_base_/models/semfpn_semask_swin.py (one norm_cfg dict shared)."""
    norm_cfg = dict(type="SyncBN", requires_grad=True)
    return dict(
        type="EncoderDecoder", pretrained="pretrained/swin_small_patch4_window7_224.pth",
        backbone=dict(type="SeMaskSwinTransformer", embed_dim=96, use_checkpoint=True, out_indices=(0, 1, 2, 3)),
        decode_head=dict(type="BranchFPNHead", in_channels=[96, 192, 384, 768], norm_cfg=norm_cfg,
                         loss_decode=dict(type="CrossEntropyLoss", use_sigmoid=False)),
        auxiliary_head=[dict(type="FCNHead", norm_cfg=dict(type="SyncBN", requires_grad=True))],
        train_cfg=dict(), test_cfg=dict(mode="whole"),
    )


def test_stub_modules_and_attributes():
    mods = compat.make_torchvision_stub()
    tv = mods["torchvision"]
    assert tv.__version__ == compat.STUB_VERSION
    assert tv.transforms is mods["torchvision.transforms"]
    assert tv.transforms.functional is mods["torchvision.transforms.functional"]
    assert tv.models.__path__ == []  # mmcv walks torchvision.models.__path__: finds nothing
    # any real use names the stub; hasattr() is a clean False (AttributeError subclass)
    with pytest.raises(compat.StubUnavailable, match="torchvision is a stub"):
        tv.transforms.Compose  # noqa: B018
    assert not hasattr(tv.ops, "roi_align")
    assert not hasattr(tv, "__wrapped__")


def test_apply_installs_stub_is_idempotent_and_importable():
    proc = run_py("""
        import importlib.util, sys
        import patches.upstream_compat as c
        first = c.apply()
        tv = sys.modules["torchvision"]
        second = c.apply()
        assert first == second and sys.modules["torchvision"] is tv
        assert set(first) == {"torchvision_stub", "no_bytecode"}, first
        assert all(isinstance(v, str) and v for v in first.values())
        import torchvision
        from torchvision import transforms
        import torchvision.transforms.functional as F
        assert torchvision is tv and transforms is tv.transforms and F is tv.transforms.functional
        assert importlib.util.find_spec("torchvision") is not None
        assert sys.dont_write_bytecode
        print("OK")
    """)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "OK"


def test_stub_never_replaces_an_imported_torchvision():
    proc = run_py("""
        import sys, types
        real = types.ModuleType("torchvision")
        sys.modules["torchvision"] = real
        import patches.upstream_compat as c
        applied = c.apply()
        assert sys.modules["torchvision"] is real
        assert "torchvision_stub" not in applied
        print("OK")
    """)
    assert proc.returncode == 0, proc.stderr


def test_importing_the_module_patches_nothing():
    proc = run_py("""
        import sys
        import patches.upstream_compat
        assert "torchvision" not in sys.modules and not sys.dont_write_bytecode
        print("OK")
    """)
    assert proc.returncode == 0, proc.stderr


def test_syncbn_to_bn_rewrites_every_norm_in_place():
    cfg = upstream_like_model_cfg()
    assert compat.syncbn_to_bn(cfg) == 2
    assert cfg["decode_head"]["norm_cfg"] == {"type": "BN", "requires_grad": True}
    assert cfg["auxiliary_head"][0]["norm_cfg"]["type"] == "BN"
    assert cfg["decode_head"]["loss_decode"]["type"] == "CrossEntropyLoss"  # other types untouched
    assert compat.syncbn_to_bn(cfg) == 0  # idempotent


def test_syncbn_to_bn_handles_shared_dicts_and_tuples():
    shared = dict(type="SyncBN")
    cfg = {"a": shared, "b": (shared, [dict(type="SyncBN")]), "c": "SyncBN"}
    assert compat.syncbn_to_bn(cfg) == 2  # the shared dict is rewritten once
    assert shared["type"] == "BN" and cfg["b"][1][0]["type"] == "BN" and cfg["c"] == "SyncBN"


def test_cpu_inference_config():
    cfg = upstream_like_model_cfg()
    before = copy.deepcopy(cfg)
    out = compat.cpu_inference_config(cfg)
    assert out is cfg
    assert cfg["pretrained"] is None
    assert cfg["backbone"]["use_checkpoint"] is False
    assert cfg["decode_head"]["norm_cfg"]["type"] == "BN"
    assert cfg["backbone"]["embed_dim"] == before["backbone"]["embed_dim"]
    assert cfg["test_cfg"] == {"mode": "whole"}
    with pytest.raises(TypeError, match="model config must be a dict"):
        compat.cpu_inference_config(["not", "a", "dict"])
