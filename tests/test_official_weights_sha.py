"""The downloaded (official) weights are hashed once, into their stamp, and read back from it while the
file is the one stamped. Reference: hashlib on the bytes written here."""
from __future__ import annotations

import hashlib
import os

from semask.run import stamps


def test_official_sha256_is_recorded_once_and_read_back(tmp_path):
    weights, stamp = tmp_path / "semask_small.pth", tmp_path / "weights_official_small.txt"
    weights.write_bytes(b"checkpoint bytes")
    want = hashlib.sha256(b"checkpoint bytes").hexdigest()
    assert stamps.official_sha256(stamp, str(weights)) == want
    assert stamp.read_text().endswith(f"sha256 {want}\n")
    stamp.write_text(stamp.read_text().replace(want, "0" * 64))  # read back, not hashed again
    assert stamps.official_sha256(stamp, str(weights)) == "0" * 64


def test_a_stamp_that_only_gains_the_sha256_keeps_its_time(tmp_path):
    weights, stamp = tmp_path / "semask_small.pth", tmp_path / "weights_official_small.txt"
    weights.write_bytes(b"a")
    stamp.write_text(stamps.weights_stamp(str(weights)))  # a stamp from before the sha256 line
    os.utime(stamp, ns=(10**9, 10**9))
    assert stamps.official_sha256(stamp, str(weights)) == hashlib.sha256(b"a").hexdigest()
    assert stamp.stat().st_mtime_ns == 10**9  # same identity: nothing downstream is redone


def test_a_replaced_file_is_hashed_again(tmp_path):
    weights, stamp = tmp_path / "semask_small.pth", tmp_path / "weights_official_small.txt"
    weights.write_bytes(b"a")
    stamps.official_sha256(stamp, str(weights))
    weights.unlink()
    weights.write_bytes(b"bb")  # new size, inode, ctime
    assert stamps.official_sha256(stamp, str(weights)) == hashlib.sha256(b"bb").hexdigest()
