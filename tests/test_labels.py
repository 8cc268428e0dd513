"""prepare_cityscapes: validation of DATA_ROOT, both label modes, resumability and the LIMIT rule."""
import json
import os
import shutil
import subprocess
import sys

import cv2
import numpy as np
import pytest

from semask.data.cityscapes import discover, select_first
from semask.core.errors import KitError
from semask.core.fsio import natural_key
from semask.data.labels import prepare_labels, train_id_lut
from semask.data.synthetic import make_synthetic

H, W = 64, 128


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("labels") / "data root with spaces"
    make_synthetic(root, 8, (H, W), seed=11, jobs=1)
    return root


@pytest.fixture
def copy(dataset, tmp_path):
    dst = tmp_path / "copy"
    shutil.copytree(dataset, dst)
    return dst


def _mtimes(folder):
    return {p: p.stat().st_mtime_ns for p in folder.rglob("*") if p.is_file()}


def test_polygons_and_lut_agree_and_manifest(dataset, tmp_path):
    res = prepare_labels(dataset, tmp_path / "poly", limit=8, mode="polygons", size=(H, W), jobs=2)
    prepare_labels(dataset, tmp_path / "lut", limit=8, mode="lut", size=(H, W), jobs=1)
    assert res["count"] == 8 and res["written"] == 8
    manifest = json.loads((tmp_path / "poly" / "labels.json").read_text())
    assert manifest["mode"] == "polygons" and manifest["count"] == 8
    assert [e["stem"] for e in manifest["images"]] == sorted((e["stem"] for e in manifest["images"]), key=natural_key)
    for entry in manifest["images"]:
        assert set(entry) >= {"stem", "city", "image", "label", "sha256"}
        assert (dataset / entry["image"]).is_file()
        poly = cv2.imread(str(tmp_path / "poly" / entry["label"]), cv2.IMREAD_UNCHANGED)
        lut = cv2.imread(str(tmp_path / "lut" / entry["label"]), cv2.IMREAD_UNCHANGED)
        assert poly.dtype == np.uint8 and poly.shape == (H, W)
        assert np.array_equal(poly, lut)
        assert set(np.unique(poly)) <= set(range(19)) | {255}
        assert 255 in poly  # ego vehicle / out of roi are ignored
    assert not any(p.is_relative_to(dataset) for p in (tmp_path / "poly").rglob("*"))


def test_lut_table():
    lut = train_id_lut()
    assert lut[7] == 0 and lut[26] == 13 and lut[33] == 18  # road, car, bicycle
    assert lut[0] == lut[1] == lut[3] == lut[4] == 255  # unlabeled, ego vehicle, out of roi, static


def test_rerun_rewrites_nothing_and_resumes(dataset, tmp_path):
    out = tmp_path / "labels"
    prepare_labels(dataset, out, limit=8, size=(H, W), jobs=1)
    before = _mtimes(out)
    res = prepare_labels(dataset, out, limit=8, size=(H, W), jobs=2)
    assert res["written"] == 0 and not res["manifest_changed"] and _mtimes(out) == before
    # a tampered label is detected by its sha256 and rewritten; the manifest content stays the same
    victim = next(out.rglob("*_labelTrainIds.png"))
    victim.write_bytes(b"garbage")
    res = prepare_labels(dataset, out, limit=8, size=(H, W), jobs=1)
    assert res["written"] == 1 and not res["manifest_changed"]
    assert (out / "labels.json").stat().st_mtime_ns == before[out / "labels.json"]


def test_interrupted_run_resumes_from_journal(copy, tmp_path):
    out = tmp_path / "labels"
    frames = select_first(discover(copy)[0], 8)
    bad = frames[5].polygons
    good_text = bad.read_text()
    bad.write_text(good_text.replace('"label": "car"', '"label": "flying saucer"', 1))
    with pytest.raises(KitError, match="flying saucer"):
        prepare_labels(copy, out, limit=8, size=(H, W), jobs=1)
    assert not (out / "labels.json").exists()  # the manifest only appears when everything is done
    done = _mtimes(out / frames[0].city)
    bad.write_text(good_text)
    res = prepare_labels(copy, out, limit=8, size=(H, W), jobs=1)
    assert res["written"] == 1 and (out / "labels.json").is_file()
    assert all(p.stat().st_mtime_ns == t for p, t in done.items())


def test_full_split_required_without_limit(dataset, tmp_path, root):
    with pytest.raises(KitError, match=r"frankfurt 3/267.*LIMIT"):
        prepare_labels(dataset, tmp_path / "o", size=(H, W))
    proc = subprocess.run([sys.executable, "tools/prepare_cityscapes.py", "--data-root", str(dataset), "--out",
                           str(tmp_path / "o"), "--height", str(H), "--width", str(W)], cwd=root, capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: ") and proc.stderr.count("\n") == 1 and "492 missing" in proc.stderr
    with pytest.raises(KitError, match="LIMIT=9"):
        prepare_labels(dataset, tmp_path / "o", limit=9, size=(H, W))


def test_limit_takes_first_n_in_natural_order(dataset, tmp_path):
    frames, _ = discover(dataset)
    prepare_labels(dataset, tmp_path / "o", limit=4, size=(H, W), jobs=1)
    stems = [e["stem"] for e in json.loads((tmp_path / "o" / "labels.json").read_text())["images"]]
    expected = sorted((f.fid for f in frames), key=lambda s: natural_key(s + "_leftImg8bit"))[:4]
    assert stems == expected == [f.fid for f in select_first(frames, 4)]


def test_every_bad_file_listed_in_one_error(copy, tmp_path):
    frames = select_first(discover(copy)[0], 8)
    truncated, renamed, small, no_poly, no_ids, bad_json = frames[:6]
    data = truncated.image.read_bytes()
    truncated.image.write_bytes(data[: len(data) // 2])
    renamed.image.write_bytes(b"this is a text file, not a PNG\n" * 10)
    cv2.imwrite(str(small.image), np.zeros((H // 2, W // 2, 3), np.uint8))
    no_poly.polygons.unlink()
    no_ids.label_ids.unlink()
    bad_json.polygons.write_text("{not json")
    with pytest.raises(KitError) as err:
        prepare_labels(copy, tmp_path / "o", limit=8, size=(H, W))
    msg = str(err.value)
    assert msg.startswith("6 bad input file(s)")
    for path, what in [(truncated.image, "truncated"), (renamed.image, "not a PNG"), (small.image, f"{H // 2}x{W // 2}"),
                       (no_poly.polygons, "missing"), (no_ids.label_ids, "missing"), (bad_json.polygons, "JSON")]:
        assert f"{path}: " in msg and what in msg.split(f"{path}: ")[1].split(";")[0]
    assert not (tmp_path / "o" / "labels.json").exists()


def test_stray_files_ignored_with_warning(copy, tmp_path, capsys):
    city = copy / "leftImg8bit" / "val" / "frankfurt"
    (city / "notes.txt").write_text("x")
    shutil.copy(next(city.glob("*_leftImg8bit.png")), city / "frankfurt_000099_000001_leftImg8bit copy.png")
    (copy / "gtFine" / "val" / "lindau" / "lindau_000777_000001_gtFine_polygons.json").write_text("{}")
    prepare_labels(copy, tmp_path / "o", limit=8, size=(H, W), jobs=1)
    err = capsys.readouterr().err
    assert err.count("warning: ignoring stray file") == 3 and "notes.txt" in err and "copy.png" in err
    manifest = json.loads((tmp_path / "o" / "labels.json").read_text())
    assert manifest["count"] == 8 and not any("000099" in e["stem"] or "000777" in e["stem"] for e in manifest["images"])


def test_missing_dataset_says_what_to_download(tmp_path, monkeypatch):
    monkeypatch.delenv("CITYSCAPES_USERNAME", raising=False)
    monkeypatch.delenv("CITYSCAPES_PASSWORD", raising=False)
    with pytest.raises(KitError) as err:
        prepare_labels(tmp_path / "empty", tmp_path / "o")
    msg = str(err.value)
    for needle in ("https://www.cityscapes-dataset.com/downloads/", "gtFine_trainvaltest.zip",
                   "leftImg8bit_trainvaltest.zip", "DATA_ROOT/leftImg8bit/val", "DATA_ROOT/gtFine/val", "Log in"):
        assert needle in msg


def test_output_rules(dataset, tmp_path):
    with pytest.raises(KitError, match="never writes into DATA_ROOT"):
        prepare_labels(dataset, dataset / "labels", limit=8, size=(H, W))
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    with pytest.raises(KitError, match="cannot create labels output folder"):
        prepare_labels(dataset, blocker / "sub", limit=8, size=(H, W))
    if os.geteuid() != 0:  # root ignores permission bits
        ro = tmp_path / "ro"
        ro.mkdir(mode=0o500)
        with pytest.raises(KitError, match="not writable"):
            prepare_labels(dataset, ro, limit=8, size=(H, W))


def test_pillow_is_pinned_alike_in_both_envs_and_recorded(dataset, tmp_path, root):
    """Pillow fills the polygons: one pin for the kit and env/upstream, and labels.json says which drew them."""
    import PIL

    from semask.core.packages import pinned_versions

    kit = pinned_versions(root / "env" / "requirements.txt")["pillow"]
    upstream = pinned_versions(root / "env" / "upstream" / "requirements.txt")["pillow"]
    assert kit == upstream
    prepare_labels(dataset, tmp_path / "poly", limit=2, mode="polygons", size=(H, W), jobs=1)
    prepare_labels(dataset, tmp_path / "lut", limit=2, mode="lut", size=(H, W), jobs=1)
    assert json.loads((tmp_path / "poly" / "labels.json").read_text())["pillow"] == PIL.__version__
    assert json.loads((tmp_path / "lut" / "labels.json").read_text())["pillow"] is None  # no drawing in lut mode
