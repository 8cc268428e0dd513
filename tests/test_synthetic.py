"""The synthetic Cityscapes set: exact layout/naming, real label names, labelIds consistent with polygons."""
import json
import subprocess
import sys

import cv2
import numpy as np
from cityscapesscripts.helpers.annotation import Annotation
from cityscapesscripts.helpers.labels import name2label
from cityscapesscripts.preparation.json2labelImg import createLabelImage
from PIL import Image

from semask.data.cityscapes import CITIES, discover, png_header, png_size
from semask.data.synthetic import frame_image, frame_name, make_synthetic


def test_frame_image_is_the_written_frame_and_deterministic(tmp_path):
    """The crosscheck's synthetic inputs are the demo set's images (one generator)."""
    make_synthetic(tmp_path / "ds", 2, (64, 128), seed=3, jobs=1)
    frames, _ = discover(tmp_path / "ds")
    written = {f.fid: cv2.imread(str(f.image), cv2.IMREAD_COLOR) for f in frames}
    for i in range(2):
        img = frame_image(i, 64, 128, seed=3)
        assert img.shape == (64, 128, 3) and img.dtype == np.uint8
        assert np.array_equal(img, written[frame_name(i)[1]])
    assert not np.array_equal(frame_image(0, 64, 128), frame_image(1, 64, 128))


def test_layout_naming_and_content(tmp_path):
    root = tmp_path / "ds"
    fids = make_synthetic(root, 5, (64, 128), seed=3, jobs=1)
    assert [f.split("_")[0] for f in fids] == [CITIES[i % 3] for i in range(5)]
    frames, stray = discover(root)
    assert stray == [] and sorted(f.fid for f in frames) == sorted(fids)
    for frame in frames:
        assert frame.image.name == f"{frame.fid}_leftImg8bit.png"
        assert frame.image.parent == root / "leftImg8bit" / "val" / frame.city
        assert png_header(frame.image) == (64, 128, 8, 2)  # 8-bit RGB
        assert png_size(frame.image) == (64, 128)
        rgb = np.asarray(Image.open(frame.image))
        assert rgb.shape == (64, 128, 3) and rgb.std() > 10  # structured, not flat
        poly = json.loads(frame.polygons.read_text())
        assert png_size(frame.polygons) is None  # not a PNG: no size, no exception
        assert (poly["imgHeight"], poly["imgWidth"]) == (64, 128)
        names = {o["label"] for o in poly["objects"]}
        assert {"ego vehicle", "out of roi", "road", "sky", "car"} <= names
        assert all(n in name2label or n[:-5] in name2label for n in names)
        assert any(name2label.get(n, name2label["car"]).trainId == 255 for n in names)
        ann = Annotation()
        ann.fromJsonText(frame.polygons.read_text())
        ids = cv2.imread(str(frame.label_ids), cv2.IMREAD_UNCHANGED)
        assert ids.dtype == np.uint8 and np.array_equal(ids, np.asarray(createLabelImage(ann, "ids")))


def test_deterministic_for_a_seed(tmp_path):
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    make_synthetic(a, 2, (32, 64), seed=7, jobs=1)
    make_synthetic(b, 2, (32, 64), seed=7, jobs=2)
    make_synthetic(c, 2, (32, 64), seed=8, jobs=1)
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert all((a / f).read_bytes() == (b / f).read_bytes() for f in files)
    assert any((a / f).read_bytes() != (c / f).read_bytes() for f in files)


def test_cli(tmp_path, root):
    out = tmp_path / "with space"
    proc = subprocess.run([sys.executable, "tools/make_synthetic_cityscapes.py", "--out", str(out), "--num", "3",
                           "--height", "32", "--width", "64", "--seed", "1"], cwd=root, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert len(list((out / "leftImg8bit" / "val").rglob("*_leftImg8bit.png"))) == 3
    bad = subprocess.run([sys.executable, "tools/make_synthetic_cityscapes.py", "--out", str(out), "--num", "0"],
                         cwd=root, capture_output=True, text=True)
    assert bad.returncode != 0 and "--num" in bad.stderr
