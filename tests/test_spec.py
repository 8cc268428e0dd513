"""semask.spec is the one vocabulary: the model presets, the Makefile and the tools agree with it."""
from __future__ import annotations

import subprocess
import sys

from semask import spec
from semask.model.network import PRESETS


def test_presets_are_the_spec_models():
    assert tuple(PRESETS) == spec.MODELS
    for name, path in spec.UPSTREAM_CONFIGS.items():
        assert PRESETS[name].upstream_config == path


def test_make_include_restates_nothing_by_hand(root):
    out = subprocess.run([sys.executable, "-m", "semask.spec", "--make"], cwd=root / "tools", capture_output=True,
                         text=True, check=True).stdout
    assert "SPEC_MODELS = tiny small base large reduced\n" in out
    assert f"SPEC_UPSTREAM_COMMIT = {spec.UPSTREAM_COMMIT}\n" in out
    assert "SPEC_STEM = semask_$(MODEL)_bs$(BS)_$(HEIGHT)x$(WIDTH)_$(INPUT_DTYPE)_$(LABEL_DTYPE)\n" in out
    makefile = (root / "Makefile").read_text()
    for fact in (spec.UPSTREAM_COMMIT, "tiny small base large", "int64 int32 uint8"):
        assert fact not in makefile


def test_artifact_stem_hand_computed():
    assert spec.artifact_stem("small", 4, 1024, 2048, "uint8", "int32") == "semask_small_bs4_1024x2048_uint8_int32"
    assert spec.artifact_stem("tiny", 1, 64, 128, "float32", "int64", output="logits") == "semask_tiny_bs1_64x128_float32_logits"
