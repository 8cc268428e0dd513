"""semask.spec is the one vocabulary: the model presets, the Makefile and the tools agree with it."""
from __future__ import annotations

import subprocess
import sys

from semask import spec
from semask.model import config
from semask.model.network import PRESETS, model_config


def test_every_model_has_one_row():
    assert spec.MODELS == ("tiny", "small", "base", "large", "reduced")
    assert tuple(m.name for m in config.MODEL_TABLE) == tuple(PRESETS) == spec.MODELS
    assert spec.OFFICIAL_MODELS == tuple(config.UPSTREAM_CONFIGS) == ("tiny", "small", "base", "large")
    assert spec.official_weights("small") == "data/weights/semask_small.pth"


def test_the_model_config_imports_no_torch(root):
    """The rows are read at parse time, before .venv exists: importing them must not load torch or numpy."""
    code = "import sys, semask.model.config, semask.run.ram, semask.evaluate.published; " \
           "print(sorted(m for m in ('torch', 'numpy') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_upstream_config_names_agree_with_the_presets():
    """The config file name states the Swin size and window; the preset must have that window, and the
    embedding width of that size (Swin paper: T/S 96, B 128, L 192)."""
    widths = {"tiny": 96, "small": 96, "base": 128, "large": 192}
    for name, path in config.UPSTREAM_CONFIGS.items():
        cfg = model_config(name)
        assert f"semask_swin_{name}_patch4_window{cfg.window_size}_" in path
        assert cfg.embed_dim == widths[name]


def test_makefile_restates_no_fact_of_spec(root):
    """The Makefile gets the vocabulary from the run's plan (semask.run.plan), never by hand."""
    makefile = (root / "Makefile").read_text()
    for fact in (spec.UPSTREAM_COMMIT, "tiny small base large", "int64 int32 uint8", "force_fp16", "1024", "2048"):
        assert fact not in makefile


def test_variables_help_lists_every_settable_variable(root):
    out = subprocess.run([sys.executable, "tools/semask/spec.py", "--variables"], cwd=root, capture_output=True,
                         text=True, check=True).stdout
    names = [line.split()[0] for line in out.splitlines()]
    assert names == list(spec.VARIABLE_NAMES) and "NOWAIT" in names and "BS" in names
    assert "data/weights/semask_<MODEL>.pth" in out


def test_artifact_stem_hand_computed():
    small = dict(MODEL="small", BS=4, HEIGHT=1024, WIDTH=2048, INPUT_DTYPE="uint8", LABEL_DTYPE="int32")
    assert spec.artifact_stem(small) == "semask_small_bs4_1024x2048_uint8_int32"
    tiny = dict(MODEL="tiny", BS=1, HEIGHT=64, WIDTH=128, INPUT_DTYPE="float32", LABEL_DTYPE="int64")
    assert spec.artifact_stem(tiny, output="logits") == "semask_tiny_bs1_64x128_float32_logits"
