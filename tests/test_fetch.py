"""Fetch steps without network: gdown.download replaced by fakes; upstream from a local repo."""
import json
import subprocess
import sys

import pytest

from semask.model import weights as fetch
from semask.core.errors import KitError
from semask.core.fsio import sha256_file

# the Google Drive ids of the official checkpoints, transcribed from the upstream README's model table
TINY_DRIVE_ID, SMALL_DRIVE_ID = "1_JBOJQSUVes-CWs075XyPnuNfG5psELr", "1WyT207dZmdwETBUR6aeiqOVfQdUIV_fN"

def _fake_valid(calls):
    def download(id=None, output=None, quiet=False, **kw):  # noqa: A002 - gdown's keyword
        import torch

        from semask.model.network import build_model

        calls.append(id)
        torch.save({"state_dict": build_model("tiny").state_dict(), "meta": {}}, output)
        return output
    return download


def _fake_quota(id=None, output=None, **kw):  # noqa: A002
    import gdown.exceptions

    raise gdown.exceptions.FileURLRetrievalError(
        "Failed to retrieve file url:\n\n\tCannot retrieve the public link of the file. You may need to change\n"
        "\tthe permission to 'Anyone with the link', or have had many accesses.")


def test_download_validate_lock_then_reuse(tmp_path, monkeypatch):
    import gdown

    calls = []
    monkeypatch.setattr(gdown, "download", _fake_valid(calls))
    out, lock = tmp_path / "w" / "semask_tiny.pth", tmp_path / "weights.lock"
    info = fetch.fetch_weights("tiny", out, lock)
    assert calls == [TINY_DRIVE_ID] and info["source"] == "downloaded"
    assert json.loads(lock.read_text()) == {"tiny": {"file": "semask_tiny.pth", "sha256": sha256_file(out),
                                                     "drive_id": TINY_DRIVE_ID}}
    assert [p.name for p in out.parent.iterdir()] == ["semask_tiny.pth"]
    again = fetch.fetch_weights("tiny", out, lock)
    assert calls == [TINY_DRIVE_ID] and again["source"] == "existing"
    out.write_bytes(out.read_bytes()[:-1] + b"x")
    with pytest.raises(KitError, match=r"semask_tiny.pth has sha256 [0-9a-f]{64} but .*weights.lock expects"):
        fetch.fetch_weights("tiny", out, lock)


def test_downloaded_file_must_match_lock(tmp_path, monkeypatch):
    import gdown

    monkeypatch.setattr(gdown, "download", _fake_valid([]))
    lock = tmp_path / "weights.lock"
    lock.write_text(json.dumps({"tiny": {"file": "t.pth", "sha256": "0" * 64, "drive_id": "x"}}))
    with pytest.raises(KitError, match="expects 0000"):
        fetch.fetch_weights("tiny", tmp_path / "t.pth", lock)
    assert list(tmp_path.iterdir()) == [lock]


def test_quota_error_explains_manual_download(tmp_path, monkeypatch):
    import gdown

    monkeypatch.setattr(gdown, "download", _fake_quota)
    out = tmp_path / "semask_small.pth"
    with pytest.raises(KitError) as err:
        fetch.fetch_weights("small", out, tmp_path / "weights.lock")
    msg = str(err.value)
    assert "Cannot retrieve the public link" in msg
    assert f"https://drive.google.com/file/d/{SMALL_DRIVE_ID}/view" in msg and str(out) in msg
    assert list(tmp_path.iterdir()) == []


def test_existing_wrong_model_file_refused(tmp_path):
    import torch

    out = tmp_path / "semask_base.pth"
    torch.save({"state_dict": {"foo": torch.zeros(2)}}, out)
    with pytest.raises(KitError, match="semask_base.pth"):
        fetch.fetch_weights("base", out, tmp_path / "weights.lock")
    assert not (tmp_path / "weights.lock").exists()


def _git(*args, cwd):
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture
def upstream(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    _git("init", "-q", cwd=src)
    for i in (1, 2):
        (src / "f.txt").write_text(f"v{i}\n")
        _git("add", "f.txt", cwd=src)
        _git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", f"c{i}", cwd=src)
    first = _git("rev-list", "--max-parents=0", "HEAD", cwd=src)
    bare = tmp_path / "mirror.git"
    _git("clone", "-q", "--bare", str(src), str(bare), cwd=tmp_path)
    return bare, first, _git("rev-parse", "HEAD", cwd=src)


def test_fetch_upstream_clone_pin_and_reuse(upstream, tmp_path, root):
    bare, first, second = upstream
    dest = tmp_path / "data" / "SeMask-Segmentation"
    r = subprocess.run([sys.executable, str(root / "tools" / "fetch_upstream.py"), "--dest", str(dest),
                        "--repo", str(bare), "--commit", first], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert (dest / "f.txt").read_text() == "v1\n" and _git("rev-parse", "HEAD", cwd=dest) == first
    stamp = json.loads((tmp_path / "data" / "SeMask-Segmentation.stamp").read_text())
    assert stamp["head"] == first and stamp["repo"] == str(bare)
    info = fetch.fetch_upstream(dest, str(bare), second)  # reuse the clone, move the pin
    assert info["head"] == second and (dest / "f.txt").read_text() == "v2\n"
    assert sorted(p.name for p in dest.parent.iterdir()) == ["SeMask-Segmentation", "SeMask-Segmentation.stamp"]


def test_fetch_upstream_unknown_commit(upstream, tmp_path):
    bare, _, _ = upstream
    dest = tmp_path / "up"
    with pytest.raises(KitError, match="not in"):
        fetch.fetch_upstream(dest, str(bare), "1" * 40)
    assert not dest.exists() and not (tmp_path / "up.stamp").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".up")] == []
    with pytest.raises(KitError, match="40-character"):
        fetch.fetch_upstream(dest, str(bare), "abc123")
