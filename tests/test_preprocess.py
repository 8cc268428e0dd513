"""preprocess: upstream-identical float32 bins, uint8 layout, resize rule, resumability, LIMIT.

The float32 references are an independent transcription of upstream's arithmetic, not the kit's
code: mmseg's Normalize keeps mean/std as float32 (np.array(..., dtype=np.float32)); mmcv 1.3.0's
imnormalize works from those in float64 and stores float32; Resize is mmcv.imrescale (rescale_size
rounding, cv2 INTER_LINEAR).
"""
import json
import shutil
import subprocess
import sys

import cv2
import numpy as np
import pytest
from PIL import Image

from semask.data.cityscapes import discover, select_first
from semask.core.errors import KitError
from semask.core.fsio import sha256_file
from semask.data.bins import preprocess, rescaled_size, to_nchw
from semask.data.normalise import mmcv_imnormalize, normalise_table
from semask.data.synthetic import make_synthetic

H, W = 64, 128
# img_norm_cfg of SeMask's Cityscapes config, stored as float32 the way mmseg's Normalize stores it
MEAN32 = np.array([123.675, 116.28, 103.53], dtype=np.float32)
STD32 = np.array([58.395, 57.12, 57.375], dtype=np.float32)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("pre") / "data root"
    make_synthetic(root, 6, (H, W), seed=5, jobs=1)
    return root


def upstream_normalise(rgb_uint8):
    """Upstream's arithmetic on an RGB uint8 HxWx3 image: float32 mean/std, float64 compute, float32 out."""
    mean64, stdinv64 = MEAN32.astype(np.float64), 1.0 / STD32.astype(np.float64)
    return ((rgb_uint8.astype(np.float64) - mean64) * stdinv64).astype(np.float32)


def upstream_rescale(bgr, height, width):
    """mmcv.imrescale(img, (W, H)) written out: rescale_size's keep-ratio factor, round half up, INTER_LINEAR."""
    h, w = bgr.shape[:2]
    factor = min(max(height, width) / max(h, w), min(height, width) / min(h, w))
    size = (int(w * float(factor) + 0.5), int(h * float(factor) + 0.5))
    return cv2.resize(bgr, size, interpolation=cv2.INTER_LINEAR)


def reference_float32(path, height=None, width=None):
    """(1, 3, H, W) reference bin of an image file: cv2 decode (BGR), upstream rescale, upstream normalise."""
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if height is not None:
        bgr = upstream_rescale(bgr, height, width)
    return upstream_normalise(bgr[:, :, ::-1]).transpose(2, 0, 1)[None]


def _mtimes(folder):
    return {p: p.stat().st_mtime_ns for p in folder.iterdir()}


def test_float32_bit_identical_to_mmcv_arithmetic(dataset, tmp_path):
    out = tmp_path / "bins"
    res = preprocess(dataset, out, "float32", (H, W), limit=6, jobs=2)
    assert res["count"] == 6
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["dtype"] == "float32" and manifest["shape"] == [1, 3, H, W]
    for entry in manifest["files"]:
        path = out / entry["name"]
        assert entry["bytes"] == path.stat().st_size == 3 * H * W * 4 and entry["sha256"] == sha256_file(path)
        got = np.fromfile(path, np.float32).reshape(1, 3, H, W)
        ref = reference_float32(dataset / entry["source"])
        assert got.tobytes() == ref.tobytes()
        rgb = np.asarray(Image.open(dataset / entry["source"]).convert("RGB"))  # a second decoder
        assert got.tobytes() == upstream_normalise(rgb).transpose(2, 0, 1)[None].tobytes()
        bgr = cv2.imread(str(dataset / entry["source"]))
        assert got.tobytes() == mmcv_imnormalize(bgr).transpose(2, 0, 1)[None].tobytes()
    assert sorted(p.name for p in out.iterdir()) == sorted([e["name"] for e in manifest["files"]] + ["manifest.json"])


def mmcv_imnormalize_transcribed(bgr, mean, std):
    """mmcv 1.3.0 imnormalize + imnormalize_ (to_rgb=True), line by line, with mmseg's float32 mean/std."""
    img = bgr.copy().astype(np.float32)
    mean = np.float64(mean.reshape(1, -1))
    stdinv = 1 / np.float64(std.reshape(1, -1))
    cv2.cvtColor(img, cv2.COLOR_BGR2RGB, img)
    cv2.subtract(img, mean, img)
    cv2.multiply(img, stdinv, img)
    return img


def test_table_covers_every_input_value_exactly():
    """768 possible outputs: equal to both transcriptions, so every image's float32 bin is upstream's."""
    ramp = np.repeat(np.arange(256, dtype=np.uint8)[None, :, None], 3, axis=2)  # 1 x 256 x 3 BGR, b=g=r
    numpy_ref = upstream_normalise(ramp[:, :, ::-1])[0].T
    cv2_ref = mmcv_imnormalize_transcribed(ramp, MEAN32, STD32)[0].T
    assert numpy_ref.tobytes() == cv2_ref.tobytes()
    table = normalise_table()
    assert table.shape == (3, 256) and table.dtype == np.float32 and not table.flags.writeable
    assert table.tobytes() == numpy_ref.tobytes()
    # the float64-decimal mean/std the kit used before differs in 23 R and 61 G entries, never in B
    old = ((np.arange(256.0)[None] - MEAN32[:, None]) / np.array([58.395, 57.12, 57.375])[:, None]).astype(np.float32)
    assert (old != table).sum(axis=1).tolist() == [23, 61, 0]


def test_one_table_value_by_hand():
    """R = 8, worked by hand: float32(123.675) = 8105165/65536 = 123.67500305175781 and
    float32(58.395) = 15307899/262144 = 58.39500045776367; 8 - 123.67500305175781 = -115.67500305175781
    (exact); times 1/58.39500045776367 = 0.01712475369742118 gives -1.98090593620979...; the float32
    neighbours are -1.9809058904647827 (4.6e-8 away) and -1.9809060096740723 (7.3e-8 away).
    The float64-decimal formula (-115.675... / 58.395 = -1.98090596...) rounds to the other one."""
    assert float(normalise_table()[0, 8]) == -1.9809058904647827
    bgr = np.array([[[0, 0, 8]]], np.uint8)
    assert float(to_nchw(bgr, "float32")[0, 0, 0, 0]) == -1.9809058904647827


@pytest.mark.parametrize("src,dst", [
    ((64, 128), (64, 128)),        # native: no resize
    ((1000, 2000), (512, 1024)),   # keep-ratio down-scale, factor 0.512
    ((333, 667), (256, 512)),      # rescale_size rounds 256.1 -> 256 and 512.3 -> 512
    ((1025, 2051), (1024, 2048)),  # odd sizes down to the native model input
])
def test_float32_bins_equal_upstream_at_odd_sizes(tmp_path, src, dst):
    """Noisy frames (every value appears) through preprocess() vs the independent reference."""
    root = tmp_path / "data"
    make_synthetic(root, 1, tuple(src), seed=3, jobs=1)
    frame = select_first(discover(root)[0], 1)[0]
    noise = np.random.default_rng(src).integers(0, 256, (*src, 3), dtype=np.uint8)
    assert cv2.imwrite(str(frame.image), noise)
    out = tmp_path / "bins"
    preprocess(root, out, "float32", tuple(dst), limit=1, jobs=1)
    got = np.fromfile(out / f"{frame.stem}.bin", np.float32).reshape(1, 3, *dst)
    ref = reference_float32(frame.image, *dst)
    assert ref.shape == got.shape
    assert int((got != ref).sum()) == 0


def test_uint8_layout(dataset, tmp_path):
    out = tmp_path / "u8"
    preprocess(dataset, out, "uint8", (H, W), limit=6, jobs=1)
    manifest = json.loads((out / "manifest.json").read_text())
    for entry in manifest["files"]:
        got = np.fromfile(out / entry["name"], np.uint8).reshape(1, 3, H, W)
        rgb = np.asarray(Image.open(dataset / entry["source"]).convert("RGB"))
        assert np.array_equal(got[0], rgb.transpose(2, 0, 1))
        assert entry["name"] == entry["source"].rsplit("/", 1)[1].replace(".png", ".bin")


def test_resize_rule(dataset, tmp_path):
    assert rescaled_size(1024, 2048, 1024, 2048) == (1024, 2048)
    assert rescaled_size(512, 1024, 1024, 2048) == (1024, 2048)
    assert rescaled_size(1200, 1600, 1024, 2048) == (1024, 1365)
    out = tmp_path / "up"
    preprocess(dataset, out, "uint8", (2 * H, 2 * W), limit=1, jobs=1)
    frame = select_first(discover(dataset)[0], 1)[0]
    got = np.fromfile(out / f"{frame.stem}.bin", np.uint8).reshape(3, 2 * H, 2 * W)
    expected = cv2.resize(cv2.imread(str(frame.image)), (2 * W, 2 * H), interpolation=cv2.INTER_LINEAR)[:, :, ::-1]
    assert np.array_equal(got, expected.transpose(2, 0, 1))
    with pytest.raises(KitError, match=r"gives 50x100, not the model input 64x100"):
        preprocess(dataset, tmp_path / "bad", "uint8", (64, 100), limit=1, jobs=1)


def test_rerun_rewrites_nothing_and_limit_shrinks(dataset, tmp_path):
    out = tmp_path / "bins"
    preprocess(dataset, out, "float32", (H, W), limit=6, jobs=1)
    before = _mtimes(out)
    res = preprocess(dataset, out, "float32", (H, W), limit=6, jobs=2)
    assert res["written"] == 0 and not res["manifest_changed"] and _mtimes(out) == before
    res = preprocess(dataset, out, "float32", (H, W), limit=3, jobs=1)
    assert res["written"] == 0 and res["manifest_changed"]
    names = [e["name"] for e in json.loads((out / "manifest.json").read_text())["files"]]
    expected = [f"{f.stem}.bin" for f in select_first(discover(dataset)[0], 3)]
    assert names == expected
    assert sorted(p.name for p in out.glob("*.bin")) == sorted(expected)  # ais_bench must not see the dropped ones


def test_interrupted_run_resumes(dataset, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(dataset, data)
    frames = select_first(discover(data)[0], 6)
    victim = frames[4].image
    good = victim.read_bytes()
    cv2.imwrite(str(victim), np.zeros((H // 2, W), np.uint8)[:, :, None].repeat(3, axis=2))  # wrong aspect ratio
    out = tmp_path / "bins"
    with pytest.raises(KitError, match="could not be preprocessed") as err:
        preprocess(data, out, "float32", (H, W), limit=6, jobs=1)
    assert "use frames with the aspect ratio" in str(err.value) and str(victim) in str(err.value)
    assert not (out / "manifest.json").exists()
    done = {p: t for p, t in _mtimes(out).items() if p.suffix == ".bin"}
    assert len(done) == 5
    victim.write_bytes(good)
    res = preprocess(data, out, "float32", (H, W), limit=6, jobs=1)
    assert res["written"] == 1 and (out / "manifest.json").is_file()
    assert all(p.stat().st_mtime_ns == t for p, t in done.items())


def test_cli_and_errors(dataset, tmp_path, root):
    out = tmp_path / "cli bins"
    cmd = [sys.executable, "tools/preprocess.py", "--data-root", str(dataset), "--out", str(out),
           "--height", str(H), "--width", str(W), "--limit", "2", "--dtype", "uint8", "--jobs", "1"]
    proc = subprocess.run(cmd, cwd=root, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert len(list(out.glob("*.bin"))) == 2 and "2 bins" in proc.stdout
    blocker = tmp_path / "file"
    blocker.write_text("x")
    proc = subprocess.run(cmd[:5] + [str(blocker / "sub")] + cmd[6:], cwd=root, capture_output=True, text=True)
    assert proc.returncode == 2 and proc.stderr.startswith("error: cannot create bins output folder")
    proc = subprocess.run(cmd[:7] + ["0"] + cmd[8:], cwd=root, capture_output=True, text=True)
    assert proc.returncode == 2 and proc.stderr.strip() == "error: --height=0 is not a positive integer; use e.g. --height=1"
