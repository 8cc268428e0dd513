#!/usr/bin/env python3
"""The ModelZoo guide's ONNX for bench_ort.py: upstream SeMask-FPN traced by torch.onnx at opset 11.

Runs INSIDE env/upstream/venv (mmseg 0.11 fork + mmcv 1.3.0), as the guide does: build the segmentor
from upstream's own config, point `forward` at `forward_dummy` (= encode_decode: logits at input size)
and export with a static 1x3xHxW input; bench_ort.py then runs `python -m onnxsim` on it in the kit's
venv. Weights stay at upstream's initialisation: latency does not depend on them.
    env/upstream/venv/bin/python bench/guide_onnx.py --upstream data/upstream/SeMask-Segmentation \
        --model small --height 1024 --width 2048 --out guide_raw.onnx
"""
import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--upstream", type=Path, required=True, help="SeMask-Segmentation clone (make upstream)")
    p.add_argument("--model", default="small")
    p.add_argument("--height", type=int, default=1024)
    p.add_argument("--width", type=int, default=2048)
    p.add_argument("--out", type=Path, required=True)
    a = p.parse_args()
    sys.path[:0] = [str(ROOT), str(ROOT / "tools")]
    from semask.model.config import UPSTREAM_CONFIGS  # standard library only
    from semask.spec import UPSTREAM_FPN_DIR

    fpn = a.upstream.resolve() / UPSTREAM_FPN_DIR
    sys.path.insert(0, str(fpn))
    import patches.upstream_compat as compat

    compat.apply()
    import mmcv
    import torch
    from mmseg.models import build_segmentor

    cfg = mmcv.Config.fromfile(str(fpn / "configs" / UPSTREAM_CONFIGS[a.model]))
    compat.syncbn_to_bn(cfg.model)
    compat.cpu_inference_config(cfg.model)
    model = build_segmentor(cfg.model).eval()
    model.forward = model.forward_dummy
    x = torch.randn(1, 3, a.height, a.width)
    with torch.no_grad():
        torch.onnx.export(model, (x,), str(a.out), opset_version=11, input_names=["image"], output_names=["output"],
                          dynamo=False)
    a.out.with_suffix(".json").write_text(json.dumps({"kind": "guide-onnx", "model": a.model, "opset": 11,
                                                      "height": a.height, "width": a.width}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
