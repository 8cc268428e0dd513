"""The run vocabulary: every fact that more than one place needs, written once.

Standard library only, so it can be read at parse time before `.venv` exists: `semask.run.plan`
turns these facts into the make variables of each run, and `spec.py --variables` prints the
settable variables for `make help`. Python code imports the names below; nothing else restates them.
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

# ---------------------------------------------------------------- upstream pin
UPSTREAM_REPO_URL = "https://github.com/Picsart-AI-Research/SeMask-Segmentation"
UPSTREAM_COMMIT = "f12cf00c86afe669dfbea1dff0f8053ba49fed56"
UPSTREAM_FPN_DIR = "SeMask-FPN"


# ---------------------------------------------------------------- the run's weights
@dataclass(frozen=True)
class Weights:
    """The run's WEIGHTS as named ('random', or a file) and the sha256 the plan recorded for them
    ('' when the plan could not know it yet: then the loader hashes the file itself). Here, not in a
    backend or the model room, because the plan, the export and every backend pass it on."""

    name: str
    sha256: str = ""


# ---------------------------------------------------------------- the models (their rows: semask.model.config)
MODELS: tuple[str, ...] = ("tiny", "small", "base", "large", "reduced")
REDUCED = "reduced"  # the small test model of the golden vectors: no official weights
OFFICIAL_MODELS: tuple[str, ...] = tuple(m for m in MODELS if m != REDUCED)
DEFAULT_MODEL = "small"
CPU_REFERENCE_CORES = 2  # the cores the cpu_* estimates were measured on

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
RESOLVED_BACKENDS: tuple[str, ...] = ("ascend", "ort", "openvino")  # what BACKEND resolves to (auto: ascend or ort)
BACKENDS: tuple[str, ...] = ("auto", *RESOLVED_BACKENDS)
ONNX_TARGETS: tuple[str, ...] = ("ascend", "ort")  # whose graph the export writes (export_onnx.py --target)
ENV_NEEDS: tuple[str, ...] = ("export", "infer", "all")  # the steps the environment check can check for
ORT_PROVIDERS: tuple[str, ...] = ("cpu", "cuda", "cann")
# The onnxruntime distribution each provider needs (one of them per environment: they share `import onnxruntime`).
ORT_PROVIDER_PACKAGES: dict[str, str] = {"cpu": "onnxruntime", "cuda": "onnxruntime-gpu", "cann": "onnxruntime-cann"}
# Files a host with the provider's device and driver has (any one is enough); cpu needs none.
ORT_PROVIDER_DEVICE_FILES: dict[str, tuple[str, ...]] = {
    "cuda": ("/proc/driver/nvidia/version", "/dev/nvidia0", "/dev/nvidiactl"),
    "cann": ("/dev/davinci0", "/dev/davinci_manager"),
}
# The smallest HEIGHT / WIDTH the exported model accepts: 4x4 patches, then three 2x2 merges give the
# deepest stage a stride of 32 (semask.model.network refuses less; the export and the plan check it first).
MIN_INPUT_SIDE = 32
# OpenVINO (CPU): the kit's precision names -> OpenVINO's INFERENCE_PRECISION_HINT. fp32 is the default and
# always set explicitly (OpenVINO would pick bf16 by itself on CPUs with avx512_bf16 or AMX).
# int8 runs NNCF's quantized IR (semask.backends.openvino.quantize); what it leaves unquantized runs in f32.
OV_PRECISIONS: tuple[str, ...] = ("fp32", "bf16", "int8")
DEFAULT_OV_PRECISION = "fp32"
OV_PRECISION_HINTS: dict[str, str] = {"fp32": "f32", "bf16": "bf16", "int8": "f32"}
# PRECISION=int8: calibration frames (CALIB), the first N bins in natural order, all when fewer.
DEFAULT_CALIB = 64
# The kit's own verification: the logit SQNR (dB, against fp32 on the same frames) each precision must reach.
# Measured (random weights, bench/RESULTS.md): SeMask-S 512x1024 bf16 43.8 dB, int8 33.8 dB; the reduced model
# 43.4 and 34.0 dB. 20 dB for both: int8's is issue 27's target, and it leaves bf16 a ~20 dB margin while still
# catching a broken path (NaN, wrong scales, a silently different precision).
SQNR_FLOORS_DB: dict[str, float] = {"bf16": 20.0, "int8": 20.0}
SQNR_FRAMES = 8  # the logit SQNR of a run: its first N frames (all when fewer), fp32 and the precision on the same
# make fp16-check: its first N frames; each of its ~25 graph runs covers them (SeMask-S 512x1024: 8 min for 2 frames)
FP16_CHECK_FRAMES = 2
OV_DEVICE = "CPU"
DEFAULT_SET_ENV = "/usr/local/Ascend/ascend-toolkit/set_env.sh"
DEFAULT_OPSET = 11

# ---------------------------------------------------------------- Ascend toolchain vocabulary (CANN's ATC docs, hiascend.com)
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
DEVICE_ALL = "all"  # DEVICE=all: every chip `npu-smi info` lists
# Path characters the newest ais_bench accepts for --model/--input/--output (its PATH_WHITE_LIST_REGEX).
AIS_PATH_CHARS = "_A-Za-z0-9/.-"
# ais_bench distribution names across eras: Ascend/tools wheel, ait (2024), msit.
AIS_BENCH_DISTS: tuple[str, ...] = ("ais_bench", "ait-benchmark", "msit-benchmark")
# PyPI's ais-bench-benchmark: AISBench's LLM-evaluation tool, whose top-level `ais_bench` has no `ais_bench.infer`.
AIS_BENCH_IMPOSTOR_DIST = "ais-bench-benchmark"
# Modes the kit gives what it hands to (or gets from) ais_bench: the newest ais_bench refuses an --output
# folder beyond 0o750 and inputs that are group/other-writable.
ASCEND_DIR_MODE, ASCEND_FILE_MODE = 0o750, 0o640

# ---------------------------------------------------------------- agreement tolerances
ATOL = 1e-4    # max |logit difference| allowed between two implementations
MARGIN = 1e-3  # labels may differ only where the reference's top-2 logit margin is at most this

# ---------------------------------------------------------------- artifact names
STEM_TEMPLATE = "semask_{model}_bs{batch_size}_{height}x{width}_{input_dtype}_{output}"


def official_weights(model: str) -> str:
    """Where `make weights` puts MODEL's official checkpoint: the default WEIGHTS (the Makefile's pattern rule
    data/weights/semask_%.pth is the same path)."""
    return f"data/weights/semask_{model}.pth"


def artifact_stem(values: Mapping[str, object], output: str = "labels") -> str:
    """File stem carrying everything that makes two exports differ (the Makefile's STEM too). VALUES maps the
    make variables MODEL, BS, HEIGHT, WIDTH, INPUT_DTYPE and LABEL_DTYPE (a run's values, as RunPlan holds them)."""
    out = "logits" if output == "logits" else values["LABEL_DTYPE"]
    return STEM_TEMPLATE.format(model=values["MODEL"], batch_size=values["BS"], height=values["HEIGHT"],
                                width=values["WIDTH"], input_dtype=values["INPUT_DTYPE"], output=out)


# ---------------------------------------------------------------- make variables
# Every variable a user may set, on make's command line or in the environment, with its default and
# what it does: `make help` prints this list, and `semask.run.plan` refuses any other command-line name.
# A default may name another variable in braces ({MODEL}); '' means unset.
@dataclass(frozen=True)
class Variable:
    name: str
    default: str
    help: str


VARIABLES: tuple[Variable, ...] = (
    Variable("BS", "1", "batch size of the exported graph (static)"),
    Variable("MODEL", DEFAULT_MODEL, "model size: " + " ".join(MODELS)),
    Variable("BACKEND", "auto", "auto (Ascend when CANN + ais_bench work, else ONNX Runtime), " + ", ".join(BACKENDS[1:])),
    Variable("WEIGHTS", official_weights("{MODEL}"), "checkpoint .pth/.npz, or 'random'; the default is downloaded"),
    Variable("DATA_ROOT", "data/cityscapes", "folder holding leftImg8bit/ and gtFine/"),
    Variable("HEIGHT", str(NATIVE_HEIGHT), "input height of the graph"),
    Variable("WIDTH", str(NATIVE_WIDTH), "input width of the graph"),
    Variable("LIMIT", "", "only the first N val images (empty: all)"),
    Variable("INPUT_DTYPE", DEFAULT_INPUT_DTYPE, "graph input: " + " ".join(INPUT_DTYPES)),
    Variable("LABEL_DTYPE", DEFAULT_LABEL_DTYPE, "graph output labels: " + " ".join(LABEL_DTYPES)),
    Variable("LABELS", LABEL_MODES[0], "label maps from: " + " ".join(LABEL_MODES)),
    Variable("SOC", SOC_AUTO, "atc --soc_version (auto: read from npu-smi)"),
    Variable("PRECISION", DEFAULT_PRECISION, "atc --precision_mode: " + " ".join(ATC_PRECISION_MODES)
             + f"; BACKEND=openvino: {' '.join(OV_PRECISIONS)} (default {DEFAULT_OV_PRECISION})"),
    Variable("PRECISION_V2", "", "atc --precision_mode_v2 instead of PRECISION: " + " ".join(ATC_PRECISION_MODES_V2)),
    Variable("OP_SELECT_IMPLMODE", "", "atc --op_select_implmode: " + " ".join(OP_SELECT_IMPLMODES)),
    Variable("KEEP_DTYPE", "", "atc --keep_dtype config (ops kept in their ONNX dtype; sha256 in the .om name)"),
    Variable("OP_PRECISION", "", "atc --op_precision_mode .ini (e.g. Gelu=high_performance; sha256 in the .om name)"),
    Variable("MIXLIST", "", "atc --modify_mixlist .json (with PRECISION=allow_mix_precision; sha256 in the .om name)"),
    Variable("DEVICE", "0", f"NPU id 0-{DEVICE_MAX} (ais_bench --device)"),
    Variable("LOOP", "auto", "perf: timed runs, or auto (fit PERF_SECONDS, at least 3)"),
    Variable("PERF_SECONDS", "60", "perf: time budget of LOOP=auto"),
    Variable("ORT_PROVIDER", ORT_PROVIDERS[0], "ONNX Runtime provider: " + " ".join(ORT_PROVIDERS)),
    Variable("ARTIFACTS", "artifacts", "where every output goes (make clean removes what the kit made there)"),
    Variable("NOWAIT", "", "1: refuse instead of waiting when another make runs on ARTIFACTS"),
    Variable("BS_LIST", "1 4 8", "reproduce: batch sizes"),
    Variable("PRECISIONS", DEFAULT_PRECISION, f"reproduce: precisions (BACKEND=openvino: default {DEFAULT_OV_PRECISION})"),
    Variable("CPUINFO", "/proc/cpuinfo", "the CPU description PRECISION=bf16 (avx512_bf16 or AMX) and int8 "
             "(avx512_vnni, avx_vnni or amx_int8) are checked against"),
    Variable("CALIB", str(DEFAULT_CALIB), "PRECISION=int8: calibration frames, the first N of the run's bins (all when fewer)"),
    Variable("ACCURACY_EACH_BS", "", "reproduce: 1 scores every row, not only the first BS"),
    Variable("FORCE", "", "reproduce: 1 runs a CPU sweep estimated at over an hour"),
    Variable("RUN", "", "table: a run name under ARTIFACTS (make tables lists them)"),
    Variable("SMOKE", "", "1: mark the table as a smoke run"),
    Variable("DEMO_IMAGES", "4", "demo: synthetic frames"),
    Variable("DEMO_DATA", "data/demo/cityscapes", "demo: where its synthetic Cityscapes set is written (an input: make clean keeps it)"),
    Variable("DEMO_MODEL", "small", "demo: model size"),
    Variable("DEMO_WEIGHTS", "random", "demo: weights"),
    Variable("DEMO_HEIGHT", str(NATIVE_HEIGHT), "demo: frame height"),
    Variable("DEMO_WIDTH", str(NATIVE_WIDTH), "demo: frame width"),
    Variable("PYTHON", ".venv/bin/python", "the interpreter of the pipeline steps"),
    Variable("HOST_PYTHON", "", "the interpreter that creates .venv (make env; default: python3)"),
    Variable("ASCEND_SET_ENV", DEFAULT_SET_ENV, "the CANN set_env.sh"),
    Variable("AIS_BENCH", "", "the command that runs ais_bench (default: python -m ais_bench)"),
    Variable("ATC_PYTHON", "", "CANN's Python for atc's op compiler, put first on PATH for atc alone "
             "(e.g. /usr/local/python3.7.5/bin/python3; never the kit's .venv)"),
    Variable("UPSTREAM_REPO", UPSTREAM_REPO_URL, "crosscheck: upstream repository (URL or local mirror)"),
    Variable("UPSTREAM_DIR", "data/upstream/SeMask-Segmentation", "crosscheck: upstream clone"),
    Variable("CROSSCHECK_NUM", "2", "crosscheck: images"),
    Variable("CROSSCHECK_ONNX", "", "crosscheck: also compare this ONNX"),
)
VARIABLE_NAMES: tuple[str, ...] = tuple(v.name for v in VARIABLES)
# Names users reach for that mean one of the variables (the unknown-variable error suggests it).
VARIABLE_ALIASES: dict[str, str] = {"BATCH_SIZE": "BS", "BATCHSIZE": "BS", "BATCH": "BS", "SOC_VERSION": "SOC",
                                    "PROVIDER": "ORT_PROVIDER", "DATA": "DATA_ROOT", "DATASET": "DATA_ROOT",
                                    "CHECKPOINT": "WEIGHTS", "OUTPUT": "ARTIFACTS", "OUT": "ARTIFACTS"}


# ---------------------------------------------------------------- step code
# The code each step's outputs depend on, relative to the checkout. The Makefile's prerequisites
# (SPEC_CODE_<STEP>) and the in-code fingerprints (`step_code_files`) both read this table, so a
# code change reruns exactly the steps whose outputs it can change.
STEP_CODE: dict[str, tuple[str, ...]] = {
    "labels": ("tools/semask/data/labels.py", "tools/semask/data/cityscapes.py", "tools/semask/run/steps.py"),
    "bins": ("tools/semask/data/bins.py", "tools/semask/data/cityscapes.py", "tools/semask/data/normalise.py",
             "tools/semask/spec.py", "tools/semask/run/steps.py"),
    "model": ("tools/semask/model/network.py", "tools/semask/spec.py", "tools/semask/model/checkpoint.py",
              "tools/semask/model/export.py", "tools/semask/data/normalise.py", "tools/semask/model/onnx_steps.py",
              "tools/semask/run/steps.py"),
    "score": ("tools/semask/evaluate/scoring.py", "tools/semask/evaluate/metrics.py",
              "tools/semask/evaluate/predictions.py", "tools/semask/core/manifest.py", "tools/semask/run/steps.py"),
}
CHECKOUT = Path(__file__).resolve().parents[2]


def step_code_files(step: str) -> list[str]:
    """Absolute paths of STEP_CODE[step], for `semask.core.journal.code_fingerprint`."""
    return [str(CHECKOUT / rel) for rel in STEP_CODE[step]]


def output_size_tag(height: int | str, width: int | str, native: str | None) -> str:
    """'' at the dataset's native size, else '_out<H>x<W>': the graph resizes logits back to native."""
    return "" if not native or native == f"{height}x{width}" else f"_out{native}"


def variables_help() -> str:
    """The settable variables, their defaults and what they do (`make help`)."""
    width = max(len(v.name) for v in VARIABLES)
    return "".join(f"  {v.name:<{width}}  {v.default.replace('{', '<').replace('}', '>') or '(empty)'}: {v.help}\n"
                   for v in VARIABLES)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variables", action="store_true", help="print the settable make variables")
    args = parser.parse_args(argv)
    if args.variables:
        sys.stdout.write(variables_help())
    return 0


if __name__ == "__main__":
    sys.exit(main())
