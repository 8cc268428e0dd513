"""semask.evaluate.upstream.checks: the model-free exactness steps of `make crosscheck` (preprocess, labels).

What runs without upstream: probe sizes, the kit side of the preprocess check against an
independent transcription of upstream's Resize + Normalize, the exact comparisons and their report
lines, and the whole labels check with a stand-in of upstream's converter (the same
cityscapesscripts call) run by the kit's interpreter. With an upstream clone and env/upstream/venv
the same checks run against upstream's own pipeline and converter.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from conftest import ROOT
from semask.evaluate.upstream import checks
from semask.evaluate.upstream import compare as cc

STANDIN_CONVERTER = ROOT / "tests" / "standins" / "cityscapes_converter.py"
MEAN32 = np.array([123.675, 116.28, 103.53], dtype=np.float32)  # mmseg Normalize: np.array(mean, np.float32)
STD32 = np.array([58.395, 57.12, 57.375], dtype=np.float32)


def upstream_transcription(path: Path, height: int, width: int) -> np.ndarray:
    """mmcv.imread (BGR) -> imrescale toward (W, H) -> imnormalize(to_rgb) -> CHW, written out independently."""
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    h, w = bgr.shape[:2]
    factor = min(max(width, height) / max(h, w), min(width, height) / min(h, w))
    new = (int(w * float(factor) + 0.5), int(h * float(factor) + 0.5))
    bgr = cv2.resize(bgr, new, interpolation=cv2.INTER_LINEAR)
    rgb = bgr[:, :, ::-1].astype(np.float64)
    out = ((rgb - MEAN32.astype(np.float64)) * (1.0 / STD32.astype(np.float64))).astype(np.float32)
    return out.transpose(2, 0, 1)[None]


def test_probe_sizes_land_on_the_model_input():
    assert checks.probe_sizes(1024, 2048) == [(1024, 2048), (512, 1024), (1000, 2000), (1025, 2051)]
    for height, width in [(512, 1024), (90, 150), (64, 128)]:
        sizes = checks.probe_sizes(height, width)
        assert sizes[0] == (height, width) and len(sizes) >= 2
        for h, w in sizes:  # mmcv.rescale_size, written out here
            f = min(max(height, width) / max(h, w), min(height, width) / min(h, w))
            assert (int(h * f + 0.5), int(w * f + 0.5)) == (height, width)


@pytest.mark.parametrize("height,width", [(64, 128), (256, 512)])
def test_kit_side_of_preprocess_check_equals_upstream_transcription(tmp_path, height, width):
    paths = checks.write_probe_images(tmp_path, height, width)
    assert len(paths) == len(checks.probe_sizes(height, width))
    for path in paths:
        ref = upstream_transcription(path, height, width)
        result = checks.compare_arrays(path.name, checks.kit_bin(path, height, width), ref)
        assert result["differing"] == 0, result


def test_exact_comparison_names_image_and_count():
    a = np.zeros((1, 3, 4, 5), np.float32)
    b = a.copy()
    ok = [checks.compare_arrays("x.png", a, b), checks.compare_arrays("y.png", a, b)]
    assert checks.exact_failures("preprocess", ok, "values") == []
    assert checks.preprocess_line(ok, ["4x5", "8x10->4x5"]) == "preprocess: bit-identical (2 images, sizes 4x5, 8x10->4x5)"
    b[0, 1, 2, 3] = np.nextafter(np.float32(0), np.float32(1))  # one float32 step
    bad = [checks.compare_arrays("x.png", a, b), checks.compare_arrays("y.png", a, a[:, :, :3])]
    assert bad[0]["differing"] == 1 and bad[0]["max_abs_diff"] > 0
    assert checks.exact_failures("preprocess", bad, "values") == [
        "preprocess x.png: 1 values differ", "preprocess y.png: kit shape [1, 3, 4, 5] vs upstream [1, 3, 3, 5]"]
    assert checks.preprocess_line(bad, []) == "preprocess: DIFFERENT in 2 of 2 images"


def test_labels_check_with_cityscapesscripts_converter_in_kit_env(tmp_path):
    """The whole labels check; the 'upstream' converter is the stand-in run by the kit's interpreter."""
    result = checks.check_labels(STANDIN_CONVERTER, Path(sys.executable), tmp_path, num=3, size=(128, 256))
    assert result["line"] == "labels: identical (3 frames)" and result["failures"] == []
    assert result["kit_pillow"] == result["upstream_versions"]["pillow"]
    assert [r["differing"] for r in result["per_frame"]] == [0, 0, 0]
    # the frames carry irregular polygons on top of the synthetic scene
    poly = next((tmp_path / "labels" / "cityscapes" / "gtFine" / "val").rglob("*_polygons.json"))
    assert len(json.loads(poly.read_text())["objects"]) > 20
    # a difference is reported with the frame and the pixel count
    kit_png = next((tmp_path / "labels" / "kit").rglob("*_labelTrainIds.png"))
    labels = cv2.imread(str(kit_png), cv2.IMREAD_UNCHANGED)
    labels[:2, :3] = (labels[:2, :3].astype(np.int32) + 1) % 19
    cv2.imwrite(str(kit_png), labels)
    rel = kit_png.relative_to(tmp_path / "labels" / "kit").as_posix()
    again = checks.compare_label_dirs(tmp_path / "labels" / "kit", tmp_path / "labels" / "cityscapes" / "gtFine" / "val", [rel])
    assert checks.exact_failures("labels", again, "pixels") == [f"labels {kit_png.name}: 6 pixels differ"]
    assert checks.labels_line(again) == "labels: DIFFERENT in 1 of 1 frames"
    missing = checks.compare_label_dirs(tmp_path / "labels" / "kit", tmp_path / "nowhere", [rel])
    assert checks.exact_failures("labels", missing, "pixels") == [
        f"labels {kit_png.name}: the upstream file is missing or unreadable"]


def test_upstream_half_failure_is_a_kit_error(tmp_path):
    from semask.core.errors import KitError

    with pytest.raises(KitError, match="upstream labels check"):
        checks.check_labels(tmp_path / "no_converter.py", Path(sys.executable), tmp_path, num=1, size=(64, 128))


# ---------------------------------------------------------------------------------------------
# real upstream (only where a clone and env/upstream/venv exist)
# ---------------------------------------------------------------------------------------------
from upstream_helpers import UPSTREAM, UPSTREAM_PY, needs_upstream  # noqa: E402


@pytest.mark.slow
@needs_upstream
@pytest.mark.parametrize("height,width", [(64, 128), (1024, 2048)])
def test_preprocess_bit_identical_to_upstream_pipeline(tmp_path, height, width):
    result = checks.check_preprocess(cc.upstream_fpn_dir(UPSTREAM), UPSTREAM_PY, height, width, tmp_path)
    assert result["failures"] == [], result["failures"]
    assert result["line"].startswith(f"preprocess: bit-identical ({result['images']} images, sizes {height}x{width}")


@pytest.mark.slow
@needs_upstream
def test_labels_identical_to_upstream_converter(tmp_path):
    converter = cc.upstream_fpn_dir(UPSTREAM) / checks.CONVERTER
    result = checks.check_labels(converter, UPSTREAM_PY, tmp_path)
    assert result["failures"] == [] and result["line"] == f"labels: identical ({checks.LABEL_FRAMES} frames)"
    assert result["upstream_versions"]["pillow"] == result["kit_pillow"]
