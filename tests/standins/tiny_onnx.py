"""Test helper: a tiny static-batch segmentation ONNX (conv + argmax) and matching bins."""
from __future__ import annotations

from pathlib import Path

import numpy as np

H, W, CLASSES = 16, 32, 5


def make_model(path: Path, batch_size: int, height: int = H, width: int = W) -> Path:
    """Export (B,3,H,W) float32 `image` -> (B,H,W) int32 `output` labels, opset 11."""
    import torch

    torch.manual_seed(0)

    class Tiny(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = torch.nn.Conv2d(3, CLASSES, 3, padding=1)

        def forward(self, image: torch.Tensor) -> torch.Tensor:
            return self.conv(image).argmax(dim=1).to(torch.int32)

    net = Tiny().eval()
    with torch.no_grad():
        torch.onnx.export(net, torch.zeros(batch_size, 3, height, width), str(path), dynamo=False,
                          opset_version=11, input_names=["image"], output_names=["output"])
    return path


def make_bins(folder: Path, names: list[str], height: int = H, width: int = W, seed: int = 1) -> list[Path]:
    """One float32 (1,3,H,W) .bin per name, random content."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    for name in names:
        p = folder / name
        rng.standard_normal((1, 3, height, width)).astype(np.float32).tofile(p)
        paths.append(p)
    return paths


def reference_labels(model_bs1: Path, bin_path: Path, height: int = H, width: int = W) -> np.ndarray:
    """Run one image through a bs1 model with onnxruntime directly (independent of the kit)."""
    import onnxruntime as ort

    sess = ort.InferenceSession(str(model_bs1), providers=["CPUExecutionProvider"])
    x = np.fromfile(bin_path, dtype=np.float32).reshape(1, 3, height, width)
    return sess.run(None, {"image": x})[0]
