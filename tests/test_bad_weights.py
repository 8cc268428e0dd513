"""Issue 19 case 3: every bad WEIGHTS file is one `error:` line naming the file and what is wrong, exit 2.

Each file is handed to the export CLI's main under `semask.core.cli.run`, as `make onnx` hands it WEIGHTS
(in process: any exception other than KitError escapes `run` and fails the test, as it would print a
traceback). The defects are made here by hand (a text file, an empty file, the first half of a real
checkpoint, a zip holding a text file), not by the kit.
"""
import importlib.util
import zipfile

import numpy as np
import pytest
import torch

import pipeline_helpers as ph
from semask.core.cli import run


def _export_main():
    spec = importlib.util.spec_from_file_location("export_onnx_cli", ph.ROOT / "tools" / "export_onnx.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main


def _text(path, golden):
    path.write_text("hello, this is not a checkpoint\n")


def _empty(path, golden):
    path.write_bytes(b"")


def _first_half(path, golden):
    data = golden.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _zip_of_text(path, golden):
    """A valid zip whose one member is text, not an .npy array (numpy hands it back as raw bytes)."""
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("notes.txt", "hello, this is not an array\n")


def _torch_first_half(path, golden):
    with np.load(golden) as npz:
        torch.save({k: torch.from_numpy(np.array(npz[k])) for k in npz.files}, path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


CASES = {  # file name, how it is made, what the one line must say
    "text_pth": ("semask_small.pth", _text, "is not a torch checkpoint"),
    "text_npz": ("weights.npz", _text, "is not a zip archive"),
    "empty_npz": ("weights.npz", _empty, "is empty (0 bytes)"),
    "empty_pth": ("weights.pth", _empty, "is empty (0 bytes)"),
    "truncated_npz": ("weights.npz", _first_half, "is truncated or damaged"),
    "truncated_pth": ("weights.pth", _torch_first_half, "is truncated or damaged"),
    "text_member_npz": ("weights.npz", _zip_of_text, "is a zip but not an .npz of arrays (its member 'notes.txt' "
                        "is 28 raw bytes"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_weights_file_is_one_line(tmp_path, capsys, case):
    name, make, says = CASES[case]
    weights = tmp_path / name
    make(weights, ph.ROOT / ph.GOLDEN_WEIGHTS)
    out = tmp_path / "onnx" / "x.onnx"
    with pytest.raises(SystemExit) as exited:
        run(_export_main(), ["--model", "reduced", "--weights", str(weights), "--batch-size", "1", "--height", "64",
                             "--width", "128", "--out", str(out)])
    assert exited.value.code == 2
    [line] = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("error:")]
    assert line.startswith(f"error: WEIGHTS file {weights} {says}"), line
    assert "point WEIGHTS at" in line
    assert not out.exists()
