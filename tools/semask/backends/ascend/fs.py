"""File rules of the newest ais_bench, applied by the kit before it hands paths over.

Why: ais_bench from 2024 on (ait/msit and the 2025-12 Ascend/tools releases) refuses an --output folder
beyond 0o750, inputs (.om, input folder, input files) that are group- or other-writable, symlinks, and path
characters outside [_A-Za-z0-9/.-] (its path checks in Ascend/tools
ais-bench_workload/tool/ais_bench). The kit therefore resolves every path it passes,
gives what its Ascend steps write 0750 folders / 0640 files, and refuses early with the fix instead of
failing inside ais_bench after the export and the atc compile.
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import stat
from pathlib import Path
from typing import Any, Iterable

from semask.core.errors import KitError
from semask.core.fsio import atomic_path, ensure_writable_dir
from semask.spec import AIS_PATH_CHARS, ASCEND_DIR_MODE, ASCEND_FILE_MODE

_BAD_CHAR = re.compile(f"[^{AIS_PATH_CHARS}]")


def real(path: Path | str) -> Path:
    """The absolute, symlink-free path (what ais_bench must be given)."""
    return Path(os.path.realpath(path))


def check_chars(path: Path | str, what: str, variable: str = "ARTIFACTS") -> None:
    """KitError when `path` has a character ais_bench rejects; names the allowed set and the variable."""
    bad = sorted(set(_BAD_CHAR.findall(str(path))))
    if bad:
        shown = " ".join(repr(c) for c in bad)
        raise KitError(f"{what} {path} contains {shown}, which ais_bench rejects; its paths may only use "
                       f"[{AIS_PATH_CHARS}] (letters, digits, _ / . -): set {variable} to such a folder")


def set_mode(path: Path, mode: int) -> None:
    """chmod to exactly `mode` (no-op when already so); KitError with the fix when we may not."""
    try:
        if stat.S_IMODE(path.stat().st_mode) != mode:
            os.chmod(path, mode)
    except OSError as exc:
        raise KitError(f"cannot set mode {mode:o} on {path} ({exc.strerror}); ais_bench needs it: "
                       f"run `chmod {mode:o} {path}` as its owner, or set ARTIFACTS to a folder you own") from None


def private_dir(path: Path | str, what: str = "output folder") -> Path:
    """Create `path` (parents as usual) and give it mode 0750."""
    path = ensure_writable_dir(Path(path), what)
    set_mode(path, ASCEND_DIR_MODE)
    return path


def private_tree(folder: Path) -> None:
    """0750 on `folder` and its sub-folders, 0640 on its files (what ais_bench wrote, before publishing)."""
    set_mode(folder, ASCEND_DIR_MODE)
    for root, dirs, files in os.walk(folder):
        for name in dirs:
            set_mode(Path(root) / name, ASCEND_DIR_MODE)
        for name in files:
            set_mode(Path(root) / name, ASCEND_FILE_MODE)


@contextlib.contextmanager
def private_atomic_path(final: Path | str):
    """`atomic_path` whose file is published with mode 0640."""
    with atomic_path(final) as tmp:
        yield tmp
        os.chmod(tmp, ASCEND_FILE_MODE)


def write_private_json(final: Path | str, obj: Any) -> None:
    with private_atomic_path(final) as tmp:
        tmp.write_text(json.dumps(obj, indent=2) + "\n", encoding="utf-8")


def write_private_text(final: Path | str, text: str) -> None:
    with private_atomic_path(final) as tmp:
        tmp.write_text(text, encoding="utf-8")


def check_owner(path: Path, euid: int | None = None, groups: Iterable[int] | None = None) -> None:
    """KitError unless `path` belongs to this user (uid = euid) or to one of its groups: the 2025 ais_bench's
    FileStat.check_linux_permission, from which root is not exempt."""
    euid = os.geteuid() if euid is None else euid
    groups = set(os.getgroups()) | {os.getegid()} if groups is None else set(groups)
    st = path.stat()
    if st.st_uid != euid and st.st_gid not in groups:
        raise KitError(f"{path} belongs to uid {st.st_uid} (gid {st.st_gid}), and ais_bench (2025) refuses inputs and "
                       f"outputs whose owner is not you (uid {euid}) and whose group is not one of yours, root "
                       f"included; fix: `chown -R {euid}:{os.getegid()} {path}`, or remake it as this user")


def prepare_inputs(om: Path, input_dir: Path, files: Iterable[Path]) -> None:
    """Make the .om, the bins folder and every entry in it acceptable as ais_bench inputs, or say why not.

    The 2024+ tools check every entry of the input folder before filtering by extension (a manifest.json left
    0664 by an ORT run under umask 002 fails the run): each must be a real path (no symlink), use only the
    allowed characters, belong to the user and not be group/other-writable; the kit made them, so it tightens
    their modes (0640 files, 0750 folders) rather than asking the user. `files` (the bins) are entries too.
    """
    check_chars(om, "the .om")
    check_chars(input_dir, "the bins folder")
    entries = [input_dir / name for name in sorted(os.listdir(input_dir))]
    for path in (om, input_dir, *files, *entries):
        if path.is_symlink():
            raise KitError(f"{path} is a symlink, which ais_bench refuses for its inputs; replace it with the real "
                           f"file (e.g. `cp --remove-destination \"$(readlink -f {path})\" {path}`) or rerun `make bins`")
        check_chars(path, "input file")
        check_owner(path)
    set_mode(om, ASCEND_FILE_MODE)
    set_mode(input_dir, ASCEND_DIR_MODE)
    for path in {*files, *entries}:
        set_mode(path, ASCEND_DIR_MODE if path.is_dir() else ASCEND_FILE_MODE)
