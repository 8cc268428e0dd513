"""ais_bench's batching plan: file list, natural sort, files per batch, padding, output names."""
from pathlib import Path

import numpy as np
import pytest

from semask.backends import batching
from semask.core.errors import KitError


def _touch(folder: Path, names, size=8):
    folder.mkdir(parents=True, exist_ok=True)
    for n in names:
        (folder / n).write_bytes(bytes(range(size)))


def test_list_natural_sort_and_filter(tmp_path):
    _touch(tmp_path, ["a_10.bin", "a_2.bin", "A_1.bin", "b.npy.txt", "c.Bin", "d.BIN"])
    (tmp_path / "sub").mkdir()
    _touch(tmp_path / "sub", ["z.bin"])
    names = [p.name for p in batching.list_input_files(tmp_path)]
    assert names == ["A_1.bin", "a_2.bin", "a_10.bin", "d.BIN"]


def test_empty_or_missing_folder(tmp_path):
    with pytest.raises(KitError, match="no .bin/.npy"):
        batching.list_input_files(tmp_path)
    with pytest.raises(KitError, match="does not exist"):
        batching.list_input_files(tmp_path / "nope")


def test_plan_seven_files_bs4_pads_last_batch(tmp_path):
    names = [f"a_{i}.bin" for i in (1, 2, 3, 10, 11, 20, 100)]
    _touch(tmp_path, names)
    files = batching.list_input_files(tmp_path)
    per_batch = batching.files_per_batch(4 * 8, files[0])
    assert per_batch == 4
    plan = batching.plan_batches(files, per_batch)
    assert [b.index for b in plan] == [0, 1]
    assert [p.name for p in plan[0].slots] == ["a_1.bin", "a_2.bin", "a_3.bin", "a_10.bin"]
    assert plan[1].slots[3] is None and plan[1].n_padding == 1
    assert [p.name for p in plan[1].real_files] == ["a_11.bin", "a_20.bin", "a_100.bin"]


def test_padding_repeats_batch_first_file(tmp_path):
    for i, n in enumerate(["x1.bin", "x2.bin", "x3.bin"]):
        (tmp_path / n).write_bytes(bytes([i]) * 4)
    plan = batching.plan_batches(batching.list_input_files(tmp_path), 2)
    assert batching.read_batch(plan[1]) == bytes([2]) * 8


def test_files_per_batch_must_divide(tmp_path):
    _touch(tmp_path, ["a.bin"], size=7)
    with pytest.raises(KitError, match="a.bin"):
        batching.files_per_batch(32, tmp_path / "a.bin")


def test_wrong_size_file_named(tmp_path):
    _touch(tmp_path, ["a.bin", "b.bin"])
    (tmp_path / "c.bin").write_bytes(b"123")
    files = batching.list_input_files(tmp_path)
    with pytest.raises(KitError, match="c.bin"):
        batching.check_sizes(files, 8)


def test_npy_payload_and_stems(tmp_path):
    arr = np.arange(6, dtype=np.float32)
    np.save(tmp_path / "img.v2.npy", arr)
    p = tmp_path / "img.v2.npy"
    assert batching.file_nbytes(p) == 24
    assert batching.read_payload(p) == arr.tobytes()
    assert batching.output_name(p, 0) == "img_0.bin"
    _touch(tmp_path, ["img.bin"])
    with pytest.raises(KitError, match="stem"):
        batching.check_unique_stems([tmp_path / "img.bin", p])


def test_split_output():
    pieces = batching.split_output(np.arange(24).reshape(4, 2, 3), 4)
    assert [x.shape for x in pieces] == [(1, 2, 3)] * 4
    with pytest.raises(KitError, match="split"):
        batching.split_output(np.zeros((3, 2)), 2)
