"""The upstream half of the crosscheck; runs inside env/upstream/venv, not in the kit's venv.

The upstream code (mmseg 0.11 fork + mmcv 1.3.0) lives in its own venv, so `semask.evaluate.upstream.compare`
starts this module there as `python -m semask.evaluate.upstream.worker --worker SPEC.json`. It applies
`patches.upstream_compat`, builds the upstream segmentor from ITS OWN config file (or the reduced
model config in the spec), loads the checkpoint with mmcv's loader and writes full-resolution
logits to OUT_DIR/upstream_<i>.npy plus OUT_DIR/upstream.json (versions, timings, peak RSS).

This module imports only the standard library and numpy at import time, so it loads in both venvs
(the kit's process uses `peak_rss_mb` too).
"""
from __future__ import annotations

import json
import platform
import resource
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[4]  # the checkout (tools/semask/evaluate/upstream/<this file>)


def peak_rss_mb() -> float:
    """Peak resident set size of this process in MB.

    VmHWM (Linux) first: ru_maxrss survives fork+exec, so a worker would report its parent's peak.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    except (OSError, ValueError, IndexError):
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def worker_main(spec_path: str) -> int:
    """Entry point inside env/upstream/venv: build upstream, load weights, write logits (see module doc)."""
    spec = json.loads(Path(spec_path).read_text())
    fpn = Path(spec["fpn_dir"])
    sys.dont_write_bytecode = True
    for p in (str(ROOT), str(fpn)):
        if p not in sys.path:
            sys.path.insert(0, p)
    import patches.upstream_compat as compat

    applied = compat.apply()
    import warnings

    warnings.filterwarnings("ignore", message="torch.meshgrid")
    import mmcv
    import torch
    from mmcv.runner import load_checkpoint  # noqa: F401 (loaded here, before the thread count; used below)
    from mmseg.models import build_segmentor  # noqa: F401

    if spec.get("threads"):
        torch.set_num_threads(int(spec["threads"]))
    info: dict[str, Any] = {"patches": applied, "mmcv": mmcv.__version__, "torch": torch.__version__,
                            "numpy": np.__version__, "python_version": platform.python_version(),
                            "threads": torch.get_num_threads()}
    built = _build_and_load(spec, compat, info)
    if built is None:
        return 3
    model, cfg = built
    _write_logits(spec, model, cfg, info)
    return 0


def _build_and_load(spec: dict[str, Any], compat: Any, info: dict[str, Any]) -> tuple[Any, Any] | None:
    """Upstream's segmentor from its own config (or the spec's model config), the weights loaded strictly:
    (model, config or None); None when mmcv's loader refuses the checkpoint (the reason goes to the out_dir)."""
    import mmcv
    import torch
    from mmcv.runner import load_checkpoint
    from mmseg.models import build_segmentor

    t0 = time.perf_counter()
    cfg = None
    if spec.get("config_file"):
        cfg = mmcv.Config.fromfile(spec["config_file"])
        model_cfg = cfg.model
    else:
        model_cfg = mmcv.ConfigDict(spec["model_cfg"])
    info["syncbn_replaced"] = compat.syncbn_to_bn(model_cfg)  # counted before the full override
    compat.cpu_inference_config(model_cfg)
    model = build_segmentor(model_cfg)
    model.eval()
    constructed = {k: v.clone() for k, v in model.state_dict().items() if not torch.is_floating_point(v)}
    weights = Path(spec["weights"])
    if weights.suffix == ".npz":
        with np.load(weights) as npz:
            state = {k: torch.from_numpy(np.array(npz[k])) for k in npz.files}
        model.load_state_dict(state, strict=True)
    else:
        # Upstream's own loader, as its tools/test.py uses it; strict so every key must match.
        import pickle

        try:
            load_checkpoint(model, str(weights), map_location="cpu", strict=True)
        except pickle.UnpicklingError as exc:
            # torch 2.13's weights_only default refuses some objects in an mmcv checkpoint's meta.
            Path(spec["out_dir"]).joinpath("upstream_unpickling.txt").write_text(str(exc))
            return None
    loaded = model.state_dict()
    info["int_buffer_mismatches"] = sorted(
        k for k, v in constructed.items()
        if not k.endswith("num_batches_tracked") and not torch.equal(v, loaded[k]))
    info["num_parameters"] = int(sum(p.numel() for p in model.parameters()))
    info["build_load_s"] = time.perf_counter() - t0
    return model, cfg


def _write_logits(spec: dict[str, Any], model: Any, cfg: Any, info: dict[str, Any]) -> None:
    """Logits of every input to out_dir/upstream_<i>.npy, then `info` (timings, peak RSS) to upstream.json."""
    import torch

    pipeline = None
    if cfg is not None and spec.get("image_files"):
        from mmseg.datasets.pipelines import Compose

        pipeline = Compose([dict(type="LoadImageFromFile")] + list(cfg.data.test.pipeline[1:]))
    times, preproc = [], []
    out_dir = Path(spec["out_dir"])
    for i, in_path in enumerate(spec["inputs"]):
        x = torch.from_numpy(np.load(in_path))
        if pipeline is not None:
            data = pipeline(dict(img_info=dict(filename=spec["image_files"][i]), img_prefix=None))
            up_img = data["img"][0].unsqueeze(0)
            # The kit's normalisation vs upstream's own test pipeline (it resizes non-2048x1024 frames).
            preproc.append({"upstream_shape": list(up_img.shape),
                            "max_abs_diff": float((up_img - x).abs().max()) if up_img.shape == x.shape else None})
        h, w = int(x.shape[2]), int(x.shape[3])
        meta = [dict(ori_shape=(h, w, 3), img_shape=(h, w, 3), pad_shape=(h, w, 3), scale_factor=1.0,
                     flip=False)]
        t = time.perf_counter()
        with torch.no_grad():
            # whole_inference = encode_decode + rescale to ori_shape: the logits simple_test argmaxes.
            logits = model.whole_inference(x, meta, rescale=True)
        times.append(time.perf_counter() - t)
        np.save(out_dir / f"upstream_{i}.npy", logits[0].numpy().astype(np.float32, copy=False))
        del logits
    info["seconds_per_image"] = times
    info["preprocess_max_abs_diff"] = preproc
    info["peak_rss_mb"] = peak_rss_mb()
    (out_dir / "upstream.json").write_text(json.dumps(info, indent=2))


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--worker":
        sys.exit(worker_main(sys.argv[2]))
    print("usage: python -m semask.evaluate.upstream.worker --worker SPEC.json (internal; use tools/crosscheck.py)",
          file=sys.stderr)
    sys.exit(2)
