"""Atomic writes: nothing half-written under a final name, and leftovers of killed writes are swept."""
import os

import pytest

from semask.core.errors import KitError
from semask.core.fsio import atomic_path, atomic_write_text, check_free_space, natural_key, read_json, write_if_changed
from semask.core.procs import run_streamed
from semask.core.tempname import temp_name

DEAD = 2**22 + 12345  # above the default pid_max: no live process has it


def test_failed_write_leaves_nothing(tmp_path):
    final = tmp_path / "x.json"
    with pytest.raises(RuntimeError):
        with atomic_path(final) as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed")
    assert os.listdir(tmp_path) == []


def test_leftover_of_a_killed_write_is_swept_on_the_next_write(tmp_path):
    leftover = tmp_path / temp_name(".model.onnx.", ".tmp.onnx", pid=DEAD)  # SIGKILL between create and rename
    leftover.write_bytes(b"partial")
    other = tmp_path / ".other.onnx.abc.tmp.onnx"
    other.write_bytes(b"not ours")
    look_alike = tmp_path / ".model.onnx.4242-abcdef12.tmp.onnx"  # the shape, but no check: a user's file
    look_alike.write_bytes(b"not ours either")
    atomic_write_text(tmp_path / "model.onnx", "done")
    assert sorted(os.listdir(tmp_path)) == [look_alike.name, ".other.onnx.abc.tmp.onnx", "model.onnx"]
    assert (tmp_path / "model.onnx").read_text() == "done"


def test_published_file_mode_follows_umask(tmp_path):
    atomic_write_text(tmp_path / "a.txt", "x")
    umask = os.umask(0)
    os.umask(umask)
    assert (tmp_path / "a.txt").stat().st_mode & 0o777 == 0o666 & ~umask


def test_free_space_refusal_names_both_numbers(tmp_path):
    with pytest.raises(KitError, match="needs .* free"):
        check_free_space(tmp_path, 10**18, "preprocess")


def test_natural_key_orders_like_ais_bench():
    names = ["a_10.bin", "A_2.bin", "a_1.bin"]
    assert sorted(names, key=natural_key) == ["a_1.bin", "A_2.bin", "a_10.bin"]


def test_temp_file_of_a_live_writer_is_left_alone(tmp_path):
    """Issue 11 case 3: two runs writing the same name must not delete each other's temp file."""
    import subprocess
    import sys

    final = tmp_path / "model.onnx"
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        live = tmp_path / temp_name(".model.onnx.", ".tmp.onnx", pid=other.pid)
        live.write_bytes(b"in progress")
        dead = tmp_path / temp_name(".model.onnx.", ".tmp.onnx", pid=DEAD)  # a killed run's leftover
        dead.write_bytes(b"partial")
        atomic_write_text(final, "done")
        assert live.exists() and not dead.exists() and final.read_text() == "done"
    finally:
        other.kill()
        other.wait()
    atomic_write_text(final, "again")
    assert not live.exists()
    written = []
    with atomic_path(final) as tmp:
        written.append(tmp.name)
        tmp.write_text("x")
    assert written[0].startswith(f".model.onnx.{os.getpid()}-")


def test_write_if_changed_leaves_an_equal_file_untouched(tmp_path):
    path = tmp_path / "sub" / "stamp.txt"
    assert write_if_changed(path, "a\n") is True and path.read_text() == "a\n"
    os.utime(path, ns=(1, 1))
    assert write_if_changed(path, "a\n") is False and path.stat().st_mtime_ns == 1
    assert write_if_changed(path, "b\n") is True and path.read_text() == "b\n" and path.stat().st_mtime_ns != 1


def test_read_json_gives_none_for_anything_but_a_json_object(tmp_path):
    (tmp_path / "ok.json").write_text('{"a": [1, 2]}')
    (tmp_path / "list.json").write_text("[1, 2]")
    (tmp_path / "torn.json").write_text('{"a": [1,')
    assert read_json(tmp_path / "ok.json") == {"a": [1, 2]}
    assert [read_json(p) for p in (None, "", tmp_path / "list.json", tmp_path / "torn.json", tmp_path / "none.json",
                                   tmp_path)] == [None] * 6


def test_run_streamed_echoes_and_keeps_merged_output(capfd, tmp_path):
    import sys

    code, text = run_streamed([sys.executable, "-c", "import sys; print('out'); print('err', file=sys.stderr); "
                                                     "sys.exit(3)"], cwd=tmp_path)
    assert (code, sorted(text.splitlines())) == (3, ["err", "out"])
    assert sorted(capfd.readouterr().out.splitlines()) == ["err", "out"]
    with pytest.raises(KitError, match="cannot run no-such-tool-here: not found"):
        run_streamed(["no-such-tool-here"])
