"""preprocess: upstream-identical float32 bins, uint8 layout, resize rule, resumability, LIMIT."""
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
from semask.data.bins import mmcv_normalise, preprocess, rescaled_size
from semask.data.synthetic import make_synthetic

H, W = 64, 128
MEAN = np.array([123.675, 116.28, 103.53])
STD = np.array([58.395, 57.12, 57.375])


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("pre") / "data root"
    make_synthetic(root, 6, H, W, seed=5, jobs=1)
    return root


def reference_float32(path):
    """mmcv.imnormalize's arithmetic written out in numpy: float32 image minus the mean rounded to
    float32 (OpenCV converts the scalar to the image depth), then times 1/std in float64, rounded."""
    rgb = np.asarray(Image.open(path).convert("RGB")).astype(np.float32)
    centred = rgb - MEAN.astype(np.float32)
    out = (centred.astype(np.float64) * (1.0 / STD)).astype(np.float32)
    return out.transpose(2, 0, 1)[None]


def _mtimes(folder):
    return {p: p.stat().st_mtime_ns for p in folder.iterdir()}


def test_float32_bit_identical_to_mmcv_arithmetic(dataset, tmp_path):
    out = tmp_path / "bins"
    res = preprocess(dataset, out, "float32", H, W, limit=6, jobs=2)
    assert res["count"] == 6
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["dtype"] == "float32" and manifest["shape"] == [1, 3, H, W]
    for entry in manifest["files"]:
        path = out / entry["name"]
        assert entry["bytes"] == path.stat().st_size == 3 * H * W * 4 and entry["sha256"] == sha256_file(path)
        got = np.fromfile(path, np.float32).reshape(1, 3, H, W)
        ref = reference_float32(dataset / entry["source"])
        assert got.tobytes() == ref.tobytes()
        bgr = cv2.imread(str(dataset / entry["source"]))
        assert got.tobytes() == mmcv_normalise(bgr).transpose(2, 0, 1)[None].tobytes()
    assert sorted(p.name for p in out.iterdir()) == sorted([e["name"] for e in manifest["files"]] + ["manifest.json"])


def test_uint8_layout(dataset, tmp_path):
    out = tmp_path / "u8"
    preprocess(dataset, out, "uint8", H, W, limit=6, jobs=1)
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
    preprocess(dataset, out, "uint8", 2 * H, 2 * W, limit=1, jobs=1)
    frame = select_first(discover(dataset)[0], 1)[0]
    got = np.fromfile(out / f"{frame.stem}.bin", np.uint8).reshape(3, 2 * H, 2 * W)
    expected = cv2.resize(cv2.imread(str(frame.image)), (2 * W, 2 * H), interpolation=cv2.INTER_LINEAR)[:, :, ::-1]
    assert np.array_equal(got, expected.transpose(2, 0, 1))
    with pytest.raises(KitError, match=r"gives 50x100, not the model input 64x100"):
        preprocess(dataset, tmp_path / "bad", "uint8", 64, 100, limit=1, jobs=1)


def test_rerun_rewrites_nothing_and_limit_shrinks(dataset, tmp_path):
    out = tmp_path / "bins"
    preprocess(dataset, out, "float32", H, W, limit=6, jobs=1)
    before = _mtimes(out)
    res = preprocess(dataset, out, "float32", H, W, limit=6, jobs=2)
    assert res["written"] == 0 and not res["manifest_changed"] and _mtimes(out) == before
    res = preprocess(dataset, out, "float32", H, W, limit=3, jobs=1)
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
        preprocess(data, out, "float32", H, W, limit=6, jobs=1)
    assert "use frames with the aspect ratio" in str(err.value) and str(victim) in str(err.value)
    assert not (out / "manifest.json").exists()
    done = {p: t for p, t in _mtimes(out).items() if p.suffix == ".bin"}
    assert len(done) == 5
    victim.write_bytes(good)
    res = preprocess(data, out, "float32", H, W, limit=6, jobs=1)
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
    assert proc.returncode == 2 and proc.stderr.strip() == "error: --height=0 must be >= 1"
