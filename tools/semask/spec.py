"""The run vocabulary: every fact that more than one place needs, written once.

Standard library only, so the Makefile can read it at parse time before `.venv` exists:
`python -m semask.spec --make` prints these facts as make variables (the Makefile includes the
result as a generated makefile and regenerates it when this file changes). Python code imports
the names below; nothing else restates them.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

# ---------------------------------------------------------------- upstream pin
UPSTREAM_REPO_URL = "https://github.com/Picsart-AI-Research/SeMask-Segmentation"
UPSTREAM_COMMIT = "f12cf00c86afe669dfbea1dff0f8053ba49fed56"
UPSTREAM_FPN_DIR = "SeMask-FPN"
# Upstream config (relative to SeMask-FPN/configs) per official model; `reduced` is the golden-vector
# config, which has no upstream file (tests/fixtures/config_reduced.json holds it).
UPSTREAM_CONFIGS: dict[str, str] = {
    "tiny": "semask_swin/cityscapes/semfpn_semask_swin_tiny_patch4_window7_768x768_80k_cityscapes.py",
    "small": "semask_swin/cityscapes/semfpn_semask_swin_small_patch4_window7_768x768_80k_cityscapes.py",
    "base": "semask_swin/cityscapes/semfpn_semask_swin_base_patch4_window12_768x768_80k_cityscapes.py",
    "large": "semask_swin/cityscapes/semfpn_semask_swin_large_patch4_window12_768x768_80k_cityscapes.py",
}
REDUCED = "reduced"
MODELS: tuple[str, ...] = (*UPSTREAM_CONFIGS, REDUCED)  # semask.model.network.PRESETS has exactly these keys
DEFAULT_MODEL = "small"

# ---------------------------------------------------------------- dataset facts (Cityscapes, 19 train ids)
CLASSES: tuple[str, ...] = (
    "road", "sidewalk", "building", "wall", "fence", "pole", "traffic light", "traffic sign",
    "vegetation", "terrain", "sky", "person", "rider", "car", "truck", "bus", "train",
    "motorcycle", "bicycle",
)
NUM_CLASSES = len(CLASSES)
IGNORE_INDEX = 255
# Input normalisation of SeMask's Cityscapes config (img_norm_cfg): RGB order, 0-255 units.
MEAN_RGB = (123.675, 116.28, 103.53)
STD_RGB = (58.395, 57.12, 57.375)
NATIVE_HEIGHT, NATIVE_WIDTH = 1024, 2048

# ---------------------------------------------------------------- choices and their defaults
INPUT_DTYPES: tuple[str, ...] = ("float32", "uint8")
DEFAULT_INPUT_DTYPE = "float32"
LABEL_DTYPES: tuple[str, ...] = ("int64", "int32", "uint8")
DEFAULT_LABEL_DTYPE = "int32"
OUTPUT_KINDS: tuple[str, ...] = ("labels", "logits")
LABEL_MODES: tuple[str, ...] = ("polygons", "lut")
BACKENDS: tuple[str, ...] = ("auto", "ascend", "ort", "openvino")  # auto picks ascend or ort, never openvino
ORT_PROVIDERS: tuple[str, ...] = ("cpu", "cuda", "cann")
# OpenVINO (CPU): the kit's precision names -> OpenVINO's INFERENCE_PRECISION_HINT. fp32 is the default and
# always set explicitly (OpenVINO would pick bf16 by itself on CPUs with avx512_bf16 or AMX).
OV_PRECISIONS: tuple[str, ...] = ("fp32", "bf16")
DEFAULT_OV_PRECISION = "fp32"
OV_PRECISION_HINTS: dict[str, str] = {"fp32": "f32", "bf16": "bf16"}
OV_DEVICE = "CPU"
DEFAULT_SET_ENV = "/usr/local/Ascend/ascend-toolkit/set_env.sh"
DEFAULT_OPSET = 11

# ---------------------------------------------------------------- Ascend toolchain vocabulary (TOOLS.md §2, §3, §8)
# atc --precision_mode values documented from CANN 6 to 9 (force_fp16 is atc's default for inference).
ATC_PRECISION_MODES: tuple[str, ...] = (
    "force_fp16", "allow_fp32_to_fp16", "must_keep_origin_dtype", "allow_mix_precision", "force_fp32",
    "cube_fp16in_fp32out", "allow_mix_precision_fp16", "allow_mix_precision_bf16", "allow_fp32_to_bf16",
)
DEFAULT_PRECISION = "force_fp16"
# atc --precision_mode_v2 values (newer CANN; cannot be combined with --precision_mode).
ATC_PRECISION_MODES_V2: tuple[str, ...] = (
    "fp16", "origin", "cube_fp16in_fp32out", "mixed_float16", "mixed_bfloat16", "cube_hif8", "mixed_hif8",
)
OP_SELECT_IMPLMODES: tuple[str, ...] = ("high_performance", "high_precision")
# --soc_version names: 'Ascend' + the chip Name npu-smi shows (documented chip families 310, 310B, 310P, 910,
# 910B, 910_93, 950). SOC=auto reads the chip from npu-smi instead.
SOC_VERSIONS: tuple[str, ...] = (
    "Ascend310", "Ascend310B1", "Ascend310B2", "Ascend310B3", "Ascend310B4",
    "Ascend310P1", "Ascend310P3", "Ascend310P5", "Ascend310P7",
    "Ascend310P3vir01", "Ascend310P3vir02", "Ascend310P3vir04", "Ascend310P3vir08",
    "Ascend910", "Ascend910A", "Ascend910B", "Ascend910ProA", "Ascend910ProB", "Ascend910PremiumA",
    "Ascend910B1", "Ascend910B2", "Ascend910B2C", "Ascend910B3", "Ascend910B4", "Ascend910B4-1",
    "Ascend910_9391", "Ascend910_9392", "Ascend910_9381", "Ascend910_9382", "Ascend910_9372", "Ascend910_9362",
    "Ascend950", "Ascend950DT", "Ascend950PR",
)
SOC_AUTO = "auto"
DEVICE_MAX = 255  # ais_bench --device accepts 0..255
# Path characters the newest ais_bench accepts for --model/--input/--output (its PATH_WHITE_LIST_REGEX).
AIS_PATH_CHARS = "_A-Za-z0-9/.-"
# ais_bench distribution names across eras: Ascend/tools wheel, ait (2024), msit.
AIS_BENCH_DISTS: tuple[str, ...] = ("ais_bench", "ait-benchmark", "msit-benchmark")
# Modes the kit gives what it hands to (or gets from) ais_bench: the newest ais_bench refuses an --output
# folder beyond 0o750 and inputs that are group/other-writable.
ASCEND_DIR_MODE, ASCEND_FILE_MODE = 0o750, 0o640

# ---------------------------------------------------------------- agreement tolerances
ATOL = 1e-4    # max |logit difference| allowed between two implementations
MARGIN = 1e-3  # labels may differ only where the reference's top-2 logit margin is at most this

# ---------------------------------------------------------------- artifact names
STEM_TEMPLATE = "semask_{model}_bs{batch_size}_{height}x{width}_{input_dtype}_{output}"


def artifact_stem(model: str, batch_size: int | str, height: int | str, width: int | str, input_dtype: str,
                  label_dtype: str, output: str = "labels") -> str:
    """File stem carrying everything that makes two exports differ (the Makefile's STEM too)."""
    out = "logits" if output == "logits" else label_dtype
    return STEM_TEMPLATE.format(model=model, batch_size=batch_size, height=height, width=width,
                                input_dtype=input_dtype, output=out)


# ---------------------------------------------------------------- step code
# The code each step's outputs depend on, relative to the checkout. The Makefile's prerequisites
# (SPEC_CODE_<STEP>) and the in-code fingerprints (`step_code_files`) both read this table, so a
# code change reruns exactly the steps whose outputs it can change.
STEP_CODE: dict[str, tuple[str, ...]] = {
    "labels": ("tools/semask/data/labels.py", "tools/semask/data/cityscapes.py", "tools/prepare_cityscapes.py"),
    "bins": ("tools/semask/data/bins.py", "tools/semask/data/cityscapes.py", "tools/semask/data/normalise.py",
             "tools/semask/spec.py", "tools/preprocess.py"),
    "model": ("tools/semask/model/network.py", "tools/semask/spec.py", "tools/semask/model/checkpoint.py",
              "tools/semask/model/export.py", "tools/semask/data/normalise.py", "tools/export_onnx.py"),
    "score": ("tools/semask/evaluate/scoring.py", "tools/semask/evaluate/metrics.py",
              "tools/semask/evaluate/predictions.py", "tools/semask/core/manifest.py", "tools/score.py"),
}
CHECKOUT = Path(__file__).resolve().parents[2]


def step_code_files(step: str) -> list[str]:
    """Absolute paths of STEP_CODE[step], for `semask.core.journal.code_fingerprint`."""
    return [str(CHECKOUT / rel) for rel in STEP_CODE[step]]


def output_size_tag(height: int | str, width: int | str, native: str | None) -> str:
    """'' at the dataset's native size, else '_out<H>x<W>': the graph resizes logits back to native."""
    return "" if not native or native == f"{height}x{width}" else f"_out{native}"


def make_assignments() -> str:
    """The vocabulary as make variables, for `include` from the Makefile."""
    words = " ".join
    lines = {
        "UPSTREAM_COMMIT": UPSTREAM_COMMIT,
        "UPSTREAM_REPO_URL": UPSTREAM_REPO_URL,
        "MODELS": words(MODELS),
        "DEFAULT_MODEL": DEFAULT_MODEL,
        "INPUT_DTYPES": words(INPUT_DTYPES),
        "DEFAULT_INPUT_DTYPE": DEFAULT_INPUT_DTYPE,
        "LABEL_DTYPES": words(LABEL_DTYPES),
        "DEFAULT_LABEL_DTYPE": DEFAULT_LABEL_DTYPE,
        "LABEL_MODES": words(LABEL_MODES),
        "BACKENDS": words(BACKENDS),
        "ORT_PROVIDERS": words(ORT_PROVIDERS),
        "OV_PRECISIONS": words(OV_PRECISIONS),
        "DEFAULT_OV_PRECISION": DEFAULT_OV_PRECISION,
        "DEFAULT_SET_ENV": DEFAULT_SET_ENV,
        "ATC_PRECISION_MODES": words(ATC_PRECISION_MODES),
        "DEFAULT_PRECISION": DEFAULT_PRECISION,
        "ATC_PRECISION_MODES_V2": words(ATC_PRECISION_MODES_V2),
        "OP_SELECT_IMPLMODES": words(OP_SELECT_IMPLMODES),
        "SOC_VERSIONS": words(SOC_VERSIONS),
        "DEVICE_MAX": str(DEVICE_MAX),
        "AIS_PATH_CHARS": AIS_PATH_CHARS,
        "NATIVE_HEIGHT": str(NATIVE_HEIGHT),
        "NATIVE_WIDTH": str(NATIVE_WIDTH),
        # STEM is evaluated by make against the run's variables
        "STEM": artifact_stem("$(MODEL)", "$(BS)", "$(HEIGHT)", "$(WIDTH)", "$(INPUT_DTYPE)", "$(LABEL_DTYPE)"),
        **{f"CODE_{step.upper()}": words(files) for step, files in STEP_CODE.items()},
    }
    head = "# generated by `python -m semask.spec --make` from tools/semask/spec.py; do not edit\n"
    return head + "".join(f"SPEC_{k} = {v}\n" for k, v in lines.items())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--make", action="store_true", help="print the vocabulary as make variables")
    args = parser.parse_args(argv)
    if args.make:
        sys.stdout.write(make_assignments())
    return 0


if __name__ == "__main__":
    sys.exit(main())
