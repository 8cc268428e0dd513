"""Crosscheck: run the pinned upstream SeMask-FPN beside the kit's model and prove they agree.

In the kit's process: pick N images (Cityscapes val frames when present, else the synthetic
generator's frames), normalise them with the kit's preprocessing, run `semask.model` with the
shared checkpoint, have `semask.evaluate.upstream.worker` run upstream on the same inputs inside
env/upstream/venv (its own interpreter: mmseg 0.11 fork + mmcv 1.3.0), optionally run the kit's
ONNX as a third column, compare with `semask.model.agreement` (upstream = reference) and write
the JSON report.

The check fails when max_abs_diff > ATOL or any disagreeing pixel has an upstream top-2 margin >
MARGIN (semask.spec); see `semask.model.agreement` for the figures.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from dataclasses import dataclass, replace
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from semask.evaluate.upstream import checks
from semask.model.agreement import ATOL, MARGIN, Agreement
from semask.model.checkpoint import DEFAULT_SEED
from semask.core.errors import KitError, not_one_of
from semask.model.config import UPSTREAM_CONFIGS
from semask.spec import MODELS, UPSTREAM_FPN_DIR
from semask.core.fsio import atomic_write_json
from semask.data.synthetic import frame_image
from semask.evaluate.upstream.worker import peak_rss_mb

ROOT = Path(__file__).resolve().parents[4]  # the checkout (tools/semask/evaluate/upstream/<this file>)
UPSTREAM_PYTHON = ROOT / "env" / "upstream" / "venv" / "bin" / "python"
FPN_DIR = UPSTREAM_FPN_DIR

WEIGHT_SEED = DEFAULT_SEED  # seed of WEIGHTS=random, the same as the pipeline's


# ----------------------------------------------------------------------------------------------
# Inputs
# ----------------------------------------------------------------------------------------------
def normalise_bgr(bgr: np.ndarray) -> np.ndarray:
    """uint8 BGR HxWx3 -> normalised float32 (1,3,H,W) RGB with the kit's own preprocessing."""
    from semask.data.bins import to_nchw

    return to_nchw(np.ascontiguousarray(bgr), "float32")


def cityscapes_images(data_root: Path | None, num: int) -> list[Path]:
    """The first `num` val images (the kit's LIMIT rule) under DATA_ROOT/leftImg8bit/val, or [] when absent."""
    from semask.data.cityscapes import discover, select_first

    if data_root is None or not (Path(data_root) / "leftImg8bit" / "val").is_dir():
        return []
    frames, _ = discover(Path(data_root), need_labels=False)
    return [frame.image for frame in select_first(frames, num)]


def read_bgr(path: Path) -> np.ndarray:
    from semask.data.bins import read_bgr as kit_read_bgr

    try:
        return kit_read_bgr(path)
    except (OSError, ValueError) as exc:
        raise KitError(f"cannot read image {path} ({exc}); is it a valid PNG?") from None


# ----------------------------------------------------------------------------------------------
# Weights
# ----------------------------------------------------------------------------------------------
def kit_load(model: Any, path: Path) -> None:
    """Load a checkpoint into the kit's model with the kit's own strict loader."""
    from semask.model.checkpoint import load_weights

    load_weights(model, path, quiet=True)


def make_random_checkpoint(model: Any, path: Path, seed: int) -> str:
    """Write the kit's seeded random weights for `model` as a plain state-dict .pth; return the generator.

    Uses semask.model.checkpoint.random_state_dict (the golden-vector recipe; export_onnx.py --weights random
    makes the same tensors for the same seed). gamma and mlp_res are zero-initialised upstream; they
    must be non-zero here or the semantic attention would not be exercised.
    """
    import torch

    from semask.model.checkpoint import random_state_dict

    state = random_state_dict(model, seed)
    if not _semantic_attention_live(state):
        raise KitError("the random weights leave gamma/mlp_res at zero; the semantic attention would not be tested")
    torch.save({k: v.detach().clone().contiguous() for k, v in state.items()}, path)
    return "semask.model.checkpoint.random_state_dict"


def _semantic_attention_live(state: "dict[str, Any]") -> bool:
    keys = [k for k in state if k.endswith(".gamma") or ".mlp_res." in k]
    return bool(keys) and all(bool(state[k].abs().sum() > 0) for k in keys)


# ----------------------------------------------------------------------------------------------
# Upstream half (a subprocess in env/upstream/venv running semask.evaluate.upstream.worker)
# ----------------------------------------------------------------------------------------------
def upstream_commit(clone: Path) -> str | None:
    try:
        out = subprocess.run(["git", "-C", str(clone), "rev-parse", "HEAD"], capture_output=True, text=True,
                             check=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


class _UpstreamUnpickling(Exception):
    """The upstream worker's mmcv loader could not unpickle the checkpoint (torch weights_only)."""


def upstream_python() -> Path:
    """The upstream venv's interpreter: $UPSTREAM_PYTHON, else env/upstream/venv (made by `make crosscheck`)."""
    return Path(os.environ.get("UPSTREAM_PYTHON") or UPSTREAM_PYTHON)


def upstream_fpn_dir(upstream: Path) -> Path:
    upstream = Path(upstream).resolve()
    fpn = upstream / FPN_DIR
    if not (fpn / "mmseg" / "__init__.py").is_file():
        raise KitError(f"UPSTREAM={upstream} is not a SeMask-Segmentation clone (no {FPN_DIR}/mmseg); "
                       "run `make upstream` or pass --upstream DIR pointing at the clone root")
    return fpn


@dataclass(frozen=True)
class UpstreamRun:
    """What the upstream worker runs: MODEL at WEIGHTS on the input arrays, logits into out_dir."""

    upstream: Path
    model_name: str
    weights: Path
    inputs: Sequence[Path]
    out_dir: Path
    image_files: Sequence[str] | None = None
    threads: int | None = None


def run_upstream(run: UpstreamRun, python: Path | None = None) -> dict:
    """Run the upstream half in env/upstream/venv; logits land in out_dir/upstream_<i>.npy."""
    upstream, model_name, weights, inputs, out_dir = run.upstream, run.model_name, run.weights, run.inputs, run.out_dir
    image_files, threads = run.image_files, run.threads
    fpn = upstream_fpn_dir(upstream)
    python = Path(python) if python else upstream_python()
    if not python.exists():
        raise KitError(f"upstream interpreter {python} is missing; build it with `bash env/upstream/setup.sh` "
                       "(`make crosscheck` runs it) or set UPSTREAM_PYTHON")
    spec: dict[str, Any] = {"fpn_dir": str(fpn), "weights": str(Path(weights).resolve()),
                            "out_dir": str(Path(out_dir).resolve()), "inputs": [str(Path(p).resolve()) for p in inputs], "threads": threads,
                            "image_files": [str(Path(f).resolve()) for f in image_files] if image_files else None}
    if model_name not in UPSTREAM_CONFIGS:  # `reduced`: no upstream file; built from the kit's preset
        from semask.model.network import model_config
        from semask.evaluate.upstream.model_cfg import mmseg_model_cfg

        spec["model_cfg"] = mmseg_model_cfg(model_config(model_name))
        spec["config_file"] = None
    else:
        config_file = fpn / "configs" / UPSTREAM_CONFIGS[model_name]
        if not config_file.is_file():
            raise KitError(f"upstream config {config_file} is missing; is UPSTREAM={upstream} at the pinned commit?")
        spec["config_file"] = str(config_file)
    spec_path = Path(out_dir) / "spec.json"
    spec_path.write_text(json.dumps(spec, indent=2))
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1",
               PYTHONPATH=os.pathsep.join([str(ROOT / "tools"), str(ROOT)]))
    proc = subprocess.run([str(python), "-m", "semask.evaluate.upstream.worker", "--worker", str(spec_path)], env=env,
                          cwd=str(out_dir), capture_output=True, text=True)
    if proc.returncode == 3 and (Path(out_dir) / "upstream_unpickling.txt").exists():
        raise _UpstreamUnpickling((Path(out_dir) / "upstream_unpickling.txt").read_text())
    if proc.returncode != 0:
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-15:])
        raise KitError(f"the upstream worker ({python}) failed with exit code {proc.returncode}:\n{tail}")
    info = json.loads((Path(out_dir) / "upstream.json").read_text())
    info["config_file"] = spec["config_file"] or f"semask.evaluate.upstream.model_cfg.mmseg_model_cfg(model_config({model_name!r}))"
    info["interpreter"] = str(python)
    return info


# ----------------------------------------------------------------------------------------------
# ONNX column and the whole check
# ----------------------------------------------------------------------------------------------
def run_onnx(onnx_path: Path, inputs: Sequence[Path]) -> tuple[list[np.ndarray], dict]:
    """Run the kit's ONNX on the same inputs; returns per-image (K,H,W) logits or (H,W) labels.

    `inputs` are the normalised float32 .npy files; a graph whose input is uint8 (raw pixels) gets
    the raw RGB planes from the `raw_<i>.npy` file beside each of them.
    """
    from semask.model.ort_session import make_session

    if not Path(onnx_path).is_file():
        raise KitError(f"ONNX={onnx_path} does not exist; export it first (make onnx) or drop --onnx")
    sess = make_session(onnx_path, "cpu")
    ins = sess.get_inputs()
    if len(ins) != 1:
        raise KitError(f"ONNX={onnx_path} has {len(ins)} inputs; the kit's exporter writes one ('image')")
    name, shape, raw = ins[0].name, ins[0].shape, ins[0].type == "tensor(uint8)"
    out_names = [o.name for o in sess.get_outputs()]
    out_name = "output" if "output" in out_names else out_names[0]
    batch = shape[0] if isinstance(shape[0], int) and shape[0] > 0 else 1
    outs, times = [], []
    for p in inputs:
        p = Path(p)
        x = np.load(p.with_name(p.name.replace("input_", "raw_")) if raw else p)
        for axis, want in ((2, shape[2]), (3, shape[3])):
            if isinstance(want, int) and want > 0 and want != x.shape[axis]:
                raise KitError(f"ONNX={onnx_path} takes {shape[2]}x{shape[3]} inputs but the crosscheck runs "
                               f"{x.shape[2]}x{x.shape[3]}; pass matching --height/--width")
        feed = np.repeat(x, batch, axis=0) if batch > 1 else x  # a static batch: same image in every slot
        t = time.perf_counter()
        y = np.asarray(sess.run([out_name], {name: feed})[0])[0]
        times.append(time.perf_counter() - t)
        if y.ndim == 3 and y.shape[0] == 1 and y.dtype.kind in "iu":
            y = y[0]  # (1,H,W) labels
        outs.append(y)
    return outs, {"path": str(onnx_path), "input": name, "input_dtype": "uint8" if raw else "float32",
                  "output": out_name, "seconds_per_image": times,
                  "output_kind": "labels" if outs and outs[0].ndim == 2 else "logits"}


@dataclass(frozen=True)
class CrosscheckOptions:
    """One crosscheck run: tools/crosscheck.py's flags."""

    upstream: Path
    model: str
    weights: str
    num: int
    height: int
    width: int
    out_json: Path
    data_root: Path | None = None
    onnx: Path | None = None
    seed: int = WEIGHT_SEED
    atol: float = ATOL
    margin: float = MARGIN
    threads: int | None = None


def check_options(opts: CrosscheckOptions) -> str | None:
    """Refuse an unknown model, a missing clone or checkpoint, or a clone off the pin; return its commit."""
    from semask.spec import UPSTREAM_COMMIT

    if opts.model not in MODELS:
        raise KitError(not_one_of("MODEL", opts.model, MODELS))
    upstream_fpn_dir(opts.upstream)
    if opts.weights != "random" and not Path(opts.weights).is_file():
        raise KitError(f"WEIGHTS={opts.weights} does not exist; run `make weights` or use --weights random")
    commit = upstream_commit(Path(opts.upstream))
    if commit is not None and commit != UPSTREAM_COMMIT:
        raise KitError(f"UPSTREAM={opts.upstream} is at {commit}, not the pinned {UPSTREAM_COMMIT}; "
                       f"run `git -C {opts.upstream} checkout {UPSTREAM_COMMIT}` (make upstream)")
    return commit


def write_inputs(opts: CrosscheckOptions, tmp: Path) -> tuple[list[Path], list[Path]]:
    """Save the N normalised inputs (and raw RGB planes for an ONNX column) as .npy; return (inputs, source files).

    Real Cityscapes val frames when DATA_ROOT has them, else the synthetic generator's frames.
    """
    files = cityscapes_images(opts.data_root, opts.num)
    if opts.data_root is not None and not files:
        print(f"note: no Cityscapes images under {opts.data_root}/leftImg8bit/val; using synthetic images",
              file=sys.stderr)
    if files and len(files) < opts.num:
        raise KitError(f"DATA_ROOT={opts.data_root} has only {len(files)} val images; lower --num")
    inputs = []
    for i in range(opts.num):
        bgr = read_bgr(files[i]) if files else frame_image(i, opts.height, opts.width)
        if bgr.shape[:2] != (opts.height, opts.width):
            raise KitError(f"{files[i]} is {bgr.shape[1]}x{bgr.shape[0]}, not {opts.width}x{opts.height}; "
                           "pass matching --height/--width")
        inputs.append(tmp / f"input_{i}.npy")
        np.save(inputs[-1], normalise_bgr(bgr))
        if opts.onnx is not None:  # raw RGB planes, for an ONNX that takes uint8 pixels
            np.save(tmp / f"raw_{i}.npy", np.ascontiguousarray(bgr[:, :, ::-1].transpose(2, 0, 1)[None]))
    return inputs, files


def run_kit(opts: CrosscheckOptions, inputs: Sequence[Path], tmp: Path, report: dict, log: Callable) -> Path:
    """Build the kit's model, load (or make) the shared checkpoint, save its logits as kit_<i>.npy; return the checkpoint."""
    import torch

    from semask.model.network import build_model

    kit = build_model(opts.model).eval()
    if opts.weights == "random":
        ckpt = tmp / "random_weights.pth"
        report["weights_generator"] = make_random_checkpoint(kit, ckpt, opts.seed)
        report["weights_seed"] = opts.seed
    else:
        ckpt = Path(opts.weights)
    kit_load(kit, ckpt)
    threads = torch.get_num_threads()
    log(f"kit: {opts.model} on {opts.num} image(s) at {opts.height}x{opts.width} ({threads} threads)")
    times = []
    for i, p in enumerate(inputs):
        x = torch.from_numpy(np.load(p))
        t = time.perf_counter()
        with torch.no_grad():
            y = kit(x)
        times.append(time.perf_counter() - t)
        np.save(tmp / f"kit_{i}.npy", y[0].numpy().astype(np.float32, copy=False))
        del y
    report["kit"] = {"seconds_per_image": times, "peak_rss_mb": peak_rss_mb(), "threads": threads,
                     "torch": torch.__version__, "num_parameters": int(sum(p.numel() for p in kit.parameters()))}
    log(f"kit: {_fmt_times(times)}, peak RSS {report['kit']['peak_rss_mb']:.0f} MB")
    return ckpt


def run_upstream_side(opts: CrosscheckOptions, ckpt: Path, inputs: Sequence[Path], files: Sequence[Path], tmp: Path,
                      log: Callable) -> dict:
    """The upstream worker on the same inputs and checkpoint (retrying with a plain state dict if mmcv refuses it)."""
    import torch

    log("upstream: building from its own config in env/upstream/venv")
    images = [str(f) for f in files] or None
    run = UpstreamRun(Path(opts.upstream), opts.model, ckpt, inputs, tmp, image_files=images,
                      threads=torch.get_num_threads())
    try:
        up = run_upstream(run)
    except _UpstreamUnpickling:
        # mmcv 1.3's torch.load (weights_only under torch 2.13) refused the checkpoint's meta: hand
        # upstream the same tensors as a plain state dict, extracted by the kit's code-free reader.
        from semask.model.checkpoint import read_state_dict

        plain = tmp / "weights_state_dict.pth"
        torch.save(read_state_dict(ckpt), plain)
        log("upstream: mmcv's loader refused the checkpoint's meta under torch 2.13; retrying with its state_dict")
        up = run_upstream(replace(run, weights=plain))
        up["weights_note"] = "upstream loaded the checkpoint's state_dict re-saved as a plain .pth"
    log(f"upstream: {_fmt_times(up['seconds_per_image'])}, peak RSS {up['peak_rss_mb']:.0f} MB")
    pre = [p["max_abs_diff"] for p in up.get("preprocess_max_abs_diff") or []]
    if pre:
        shown = "not compared (upstream's pipeline resizes these frames)" if None in pre else f"{max(pre):.3g}"
        log(f"preprocessing: kit vs upstream test pipeline, max abs diff {shown}")
    if up["int_buffer_mismatches"]:
        raise KitError(f"the checkpoint's integer buffers differ from what upstream constructs: "
                       f"{up['int_buffer_mismatches'][:5]}")
    return up


def compare_columns(opts: CrosscheckOptions, tmp: Path, onnx_outs: list[np.ndarray] | None
                    ) -> tuple[Agreement, Agreement | None]:
    """Agreement of the kit (and the ONNX) with upstream's logits, image by image."""
    kit_agree = Agreement(atol=opts.atol, margin=opts.margin)
    onnx_agree = Agreement(atol=opts.atol, margin=opts.margin) if onnx_outs is not None else None
    for i in range(opts.num):
        ref = np.load(tmp / f"upstream_{i}.npy", mmap_mode="r")
        kit_agree.add(ref, np.load(tmp / f"kit_{i}.npy", mmap_mode="r"))
        if onnx_agree is not None:
            onnx_agree.add(ref, onnx_outs[i])  # type: ignore[index]
    return kit_agree, onnx_agree


def verdict(opts: CrosscheckOptions, report: dict, kit_agree: Agreement, onnx_agree: Agreement | None,
            exact_failed: Sequence[str] = ()) -> list[str]:
    """Every reason the check fails (empty when it passes)."""
    failures = [f"kit vs upstream: {f}" for f in kit_agree.failures()]
    failures += list(exact_failed)
    # Only comparable where upstream's pipeline keeps the frame size (2048x1024 frames at 1024x2048).
    pre = [p["max_abs_diff"] for p in report["upstream"].get("preprocess_max_abs_diff") or []]
    if any(d is not None and d > opts.atol for d in pre):
        failures.append(f"kit preprocessing vs upstream test pipeline: max abs differences {pre} > {opts.atol:g}")
    if onnx_agree is not None:
        failures += [f"onnx vs upstream: {f}" for f in onnx_agree.failures()]
    return failures


def crosscheck(opts: CrosscheckOptions, log: Callable[[str], Any] = print) -> dict:
    """Run both sides (and optionally ONNX) on the same N images, compare, write OUT_JSON; raise on failure."""
    commit = check_options(opts)
    import torch

    if opts.threads:
        torch.set_num_threads(opts.threads)
    report: dict[str, Any] = {"model": opts.model, "weights": opts.weights, "num": opts.num, "height": opts.height,
                              "width": opts.width,
                              "upstream": {"dir": str(opts.upstream), "commit": commit or "unknown (not a git clone)"}}
    with tempfile.TemporaryDirectory(prefix="crosscheck.") as tmp_name:
        tmp = Path(tmp_name)
        inputs, files = write_inputs(opts, tmp)
        report["inputs"] = {"kind": "cityscapes" if files else "synthetic",
                            "files": [str(f) for f in files] if files else None}
        ckpt = run_kit(opts, inputs, tmp, report, log)
        report["upstream"].update(run_upstream_side(opts, ckpt, inputs, files, tmp, log))
        # Model-free steps, exact: preprocessing and labels vs upstream's own code (semask.evaluate.upstream.checks).
        report["exact"], exact_failed = checks.run_checks(upstream_fpn_dir(opts.upstream), upstream_python(),
                                                          (opts.height, opts.width), tmp / "exact", files, log)
        onnx_outs = None
        if opts.onnx is not None:
            onnx_outs, report["onnx"] = run_onnx(Path(opts.onnx), inputs)
            log(f"onnx: {report['onnx']['output_kind']}, {_fmt_times(report['onnx']['seconds_per_image'])}")
        kit_agree, onnx_agree = compare_columns(opts, tmp, onnx_outs)
    report["kit_vs_upstream"] = kit_agree.summary()
    if onnx_agree is not None:
        report["onnx_vs_upstream"] = onnx_agree.summary()
    failures = verdict(opts, report, kit_agree, onnx_agree, exact_failed)
    report["passed"] = not failures
    atomic_write_json(opts.out_json, report)
    for label, agree in (("kit ", kit_agree), ("onnx", onnx_agree)):
        if agree is not None:
            diff = "n/a (labels)" if agree.max_abs_diff is None else f"{agree.max_abs_diff:.3g}"
            log(f"{label} vs upstream: max abs logit diff {diff}, label agreement {agree.label_agreement:.6%}, "
                f"disagreeing pixels {agree.disagree} (margin > {opts.margin:g}: {agree.disagree_margin_share:.2%})")
    if failures:
        raise KitError("crosscheck FAILED (" + "; ".join(failures) + f"); details in {opts.out_json}")
    log(f"crosscheck passed; report {opts.out_json}")
    return report


def _fmt_times(times: Iterable[float]) -> str:
    times = list(times)
    return f"{sum(times) / max(len(times), 1):.1f} s/image" if times else "no images"

