"""Issue 25 §5: ais_bench's own folder checks as the 2024+ tools do them, and what the kit does about them.

The ais_bench stand-in (2025-12 era, the default) checks every entry of the input folder before filtering by
extension, ownership as uid = euid or gid in the user's groups (root not exempt), and --output_dirname relative to
the working folder. The bins here are written as an ORT run under umask 002 leaves them (0664 files, a
manifest.json beside them); the manifest is written by hand (its layout transcribed: files[name, sha256, bytes]).
"""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import pipeline_helpers as ph

sys.path.insert(0, str(ph.STANDINS))
import tiny_onnx  # noqa: E402

from semask.backends.ascend import toolchain as ascend  # noqa: E402
from semask.backends.ascend.dev_access import device_access_problem  # noqa: E402
from semask.core.errors import KitError  # noqa: E402

NAMES = ["a_1.bin", "a_2.bin", "b_1.bin", "b_2.bin", "c_1.bin"]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return tiny_onnx.make_model(tmp_path_factory.mktemp("tiny") / "tiny_bs4.onnx", 4)


def _bins_umask_002(folder: Path) -> Path:
    old = os.umask(0o002)
    try:
        bins = tiny_onnx.make_bins(folder, NAMES)
        files = [{"name": b.name, "sha256": hashlib.sha256(b.read_bytes()).hexdigest(), "bytes": b.stat().st_size}
                 for b in bins]
        (folder / "manifest.json").write_text(json.dumps({"files": files}))
    finally:
        os.umask(old)
    assert oct((folder / "manifest.json").stat().st_mode & 0o777) == "0o664"
    return folder


def test_standin_checks_every_entry_like_the_2024_tools(tiny, standin_log, tmp_path):
    om = tmp_path / "om" / "tiny_bs4.om"
    ascend.compile_om(ascend.AtcJob(tiny, om, 4, tiny_onnx.H, tiny_onnx.W, "Ascend310P3"))
    bins = _bins_umask_002(tmp_path / "bins")
    os.chmod(bins, 0o750)
    for b in NAMES:
        os.chmod(bins / b, 0o640)  # only the manifest is loose
    out = tmp_path / "out"
    out.mkdir(mode=0o750)
    r = subprocess.run([sys.executable, "-m", "ais_bench", "--model", str(om), "--input", str(bins), "--output",
                        str(out), "--outfmt", "BIN"], capture_output=True, text=True, timeout=120)
    assert r.returncode != 0 and f"input data:{bins / 'manifest.json'} is illegal" in r.stderr, r.stdout + r.stderr


def test_kit_hands_over_a_umask_002_bins_folder_and_runs_from_the_preds_root(tiny, standin_log, tmp_path,
                                                                              monkeypatch):
    om = tmp_path / "om" / "tiny_bs4.om"
    ascend.compile_om(ascend.AtcJob(tiny, om, 4, tiny_onnx.H, tiny_onnx.W, "Ascend310P3"))
    bins = _bins_umask_002(tmp_path / "bins")
    spaced = tmp_path / "a checkout"  # the 2025 tool checks --output_dirname relative to the working folder
    spaced.mkdir()
    monkeypatch.chdir(spaced)
    res = ascend.ais_infer(ascend.AisInferJob(om, bins, tmp_path / "preds", "run", 4))
    assert len(res["filesinfo"]) == len(NAMES)
    assert {p.name: oct(p.stat().st_mode & 0o777) for p in bins.iterdir()} == {n: "0o640" for n in
                                                                                [*NAMES, "manifest.json"]}
    [call] = [json.loads(line) for line in standin_log.read_text().splitlines() if '"ais_bench"' in line]
    assert call["cwd"] == str(tmp_path / "preds")


def test_foreign_owned_entry_is_refused_even_for_root(tiny, standin_log, tmp_path):
    om = tmp_path / "om" / "tiny_bs4.om"
    ascend.compile_om(ascend.AtcJob(tiny, om, 4, tiny_onnx.H, tiny_onnx.W, "Ascend310P3"))
    bins = _bins_umask_002(tmp_path / "bins")
    try:
        os.chown(bins / "b_1.bin", 54321, 54321)
    except PermissionError:
        pytest.skip("cannot chown here (not root)")
    with pytest.raises(KitError, match=r"b_1\.bin belongs to uid 54321 \(gid 54321\), and ais_bench \(2025\) refuses "
                                       r".* root included; fix: `chown -R "):
        ascend.ais_infer(ascend.AisInferJob(om, bins, tmp_path / "preds", "run", 4))


def test_dev_davinci_access_for_non_root(tmp_path):
    dev = tmp_path / "dev"
    dev.mkdir()
    for name in ("davinci_manager", "davinci0", "davinci1"):
        (dev / name).write_text("")
        os.chmod(dev / name, 0o660)
        try:
            os.chown(dev / name, 0, 1234)
        except PermissionError:
            pytest.skip("cannot chown here (not root)")
    problem = device_access_problem([0], dev, euid=1000, groups=[1000])
    assert problem == (f"this user (uid 1000) cannot read and write {dev}/davinci_manager (uid 0, gid 1234, mode 660), "
                       f"{dev}/davinci0 (uid 0, gid 1234, mode 660), so ais_bench could not open the NPU; non-root "
                       "users must be in the driver's group: `sudo usermod -aG HwHiAiUser $USER`, then log in again")
    assert device_access_problem([0, 1], dev, euid=1000, groups=[1000, 1234]) is None
    assert device_access_problem([0], dev, euid=0, groups=[]) is None
    assert device_access_problem([0], tmp_path / "no-driver", euid=1000, groups=[]) is None
