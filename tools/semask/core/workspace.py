"""The ARTIFACTS root: one kit run at a time, a marker saying the kit made it, and a safe `make clean`.

Why: two `make all` on one ARTIFACTS race on the same temp and target files, and `rm -rf
$(ARTIFACTS)` unchecked deletes whatever the variable points at. So the Makefile's pipeline verbs
call `preflight` once while make reads the Makefile (make needs its answer: the dataset's native
size names the ONNX, and a refused run must not start): it refuses a DATA_ROOT inside ARTIFACTS,
marks the root as the kit's, and takes an exclusive `flock` held by a small helper process for as
long as that make runs. `clean` deletes only a marked root holding nothing but the kit's own
entries. Standard library only: this runs before `.venv` exists.
"""
from __future__ import annotations

import argparse
import errno
import fcntl
import os
import select
import struct
import sys
import time
from pathlib import Path

from semask.core import stamps
from semask.core.fsio import write_if_changed
from semask.spec import NATIVE_HEIGHT, NATIVE_WIDTH

MARKER = ".semask-artifacts"
LOCK = ".lock"
# Top-level entries the kit writes into ARTIFACTS (`.gitkeep`: the placeholder older checkouts tracked).
KIT_ENTRIES = frozenset({"onnx", "om", "bins", "labels", "preds", "reports", "perf", "env", "crosscheck", "demo",
                         "demo-data", ".state", MARKER, LOCK, ".gitkeep"})
QUIET_RETRY_SECONDS = 1.0  # a previous make may still be releasing the lock: wait this long silently


class Refused(Exception):
    """A one-line refusal, printed by `main` as `error: ...`."""


def _inside(child: Path, parent: Path) -> bool:
    return child == parent or parent in child.parents


def check_data_root(artifacts: Path, data_root: Path) -> None:
    """The pipeline never writes into DATA_ROOT and `make clean` never reaches it."""
    a, d = artifacts.resolve(), data_root.resolve()
    if _inside(d, a):
        raise Refused(f"DATA_ROOT={data_root} is inside ARTIFACTS={artifacts}, which `make clean` deletes; "
                      "move the dataset out of ARTIFACTS or set ARTIFACTS to another folder")
    if _inside(a, d):
        raise Refused(f"ARTIFACTS={artifacts} is inside DATA_ROOT={data_root}; the kit never writes into DATA_ROOT, "
                      "set ARTIFACTS to a folder outside it")


def foreign_entries(artifacts: Path) -> list[str]:
    """Top-level entries of ARTIFACTS that the kit does not write."""
    try:
        return sorted(p.name for p in artifacts.iterdir() if p.name not in KIT_ENTRIES)
    except OSError:
        return []


def mark(artifacts: Path) -> bool:
    """Create ARTIFACTS and its marker when the folder is new, empty or holds only kit entries."""
    try:
        artifacts.mkdir(parents=True, exist_ok=True)
        if not os.access(artifacts, os.W_OK | os.X_OK):
            raise PermissionError(errno.EACCES, "no write permission")
    except OSError as exc:
        raise Refused(f"ARTIFACTS={artifacts} is not a writable folder ({exc.strerror or exc}); "
                      "set ARTIFACTS to a folder you can write") from None
    marker = artifacts / MARKER
    if marker.exists():
        return True
    if foreign_entries(artifacts):
        return False
    marker.write_text("Written by the SeMask-FPN kit: `make clean` may delete this folder.\n", encoding="utf-8")
    return True


# ---------------------------------------------------------------------------- lock
def _wait_for_exit(pid: int) -> None:
    """Block until process `pid` has exited (pidfd when available, else polling)."""
    try:
        fd = os.pidfd_open(pid)
    except (AttributeError, OSError):
        fd = None
    if fd is not None:
        select.select([fd], [], [])
        return
    while True:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        except PermissionError:
            pass
        time.sleep(0.1)


def _lineage(pid: int) -> set[str]:
    """`pid` and its ancestors, as text (from /proc; just `pid` where /proc is absent)."""
    found = set()
    while pid > 1 and str(pid) not in found:
        found.add(str(pid))
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
            pid = int(stat.rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            break
    return found


def lock(artifacts: Path, owner_pid: int, nowait: bool) -> None:
    """Take the ARTIFACTS lock and leave a child process holding it until `owner_pid` (make) exits."""
    fd = os.open(artifacts / LOCK, os.O_RDWR | os.O_CREAT, 0o666)
    deadline = time.monotonic() + QUIET_RETRY_SECONDS
    told = False
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            pass
        holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "?"
        if holder in _lineage(owner_pid):  # make re-executed itself after updating an include (same pid),
            os.close(fd)                   # or a recipe runs $(MAKE) on the same ARTIFACTS: already ours
            return
        if time.monotonic() < deadline:
            time.sleep(0.05)
            continue
        if nowait:
            os.close(fd)
            raise Refused(f"another make (pid {holder}) is running on ARTIFACTS={artifacts}; wait for it, use "
                          "another ARTIFACTS, or leave NOWAIT unset to wait")
        if not told:
            print(f"another make (pid {holder}) is running on ARTIFACTS={artifacts}; waiting for it to finish "
                  "(NOWAIT=1 refuses instead)", file=sys.stderr, flush=True)
            told = True
        fcntl.flock(fd, fcntl.LOCK_EX)
        break
    before = os.fstat(fd)
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{owner_pid}\n".encode(), 0)
    if before.st_size:  # a run that changes nothing leaves every mtime under ARTIFACTS as it was
        os.utime(fd, ns=(before.st_atime_ns, before.st_mtime_ns))
    if os.fork() == 0:  # the holder: keeps the locked descriptor, releases it when make exits
        try:
            null = os.open(os.devnull, os.O_RDWR)
            for std in (0, 1, 2):  # make's $(shell) reads our stdout to its end: let go of it
                os.dup2(null, std)
            _wait_for_exit(owner_pid)
        finally:
            os._exit(0)
    os.close(fd)


# ---------------------------------------------------------------------------- native size
def _png_size(path: Path) -> tuple[int, int] | None:
    try:
        with open(path, "rb") as fh:
            head = fh.read(24)
    except OSError:
        return None
    if len(head) < 24 or head[:8] != b"\x89PNG\r\n\x1a\n" or head[12:16] != b"IHDR":
        return None
    width, height = struct.unpack(">II", head[16:24])
    return height, width


def native_size(data_root: Path, default: str) -> str:
    """'HxW' of the dataset's first val image (the size labels and scoring use), else `default`."""
    val = data_root / "leftImg8bit" / "val"
    try:
        cities = sorted(p for p in val.iterdir() if p.is_dir())
    except OSError:
        return default
    for city in cities:
        for image in sorted(city.glob("*_leftImg8bit.png")):
            size = _png_size(image)
            if size:
                return f"{size[0]}x{size[1]}"
    return default


def preflight(artifacts: Path, data_root: Path, owner_pid: int, nowait: bool, default_native: str) -> str:
    """Everything a pipeline verb needs settled before make plans: refusals, marker, lock, native size."""
    if data_root.is_file():
        raise Refused(f"DATA_ROOT={data_root} is a file, not a folder; set DATA_ROOT to the folder that holds "
                      "leftImg8bit/ and gtFine/")
    check_data_root(artifacts, data_root)
    if not mark(artifacts):
        print(f"warning: ARTIFACTS={artifacts} holds files the kit did not write ({', '.join(foreign_entries(artifacts)[:5])}); "
              "`make clean` will refuse to delete it", file=sys.stderr)
    lock(artifacts, owner_pid, nowait)
    include = artifacts / ".state" / "stamps.mk"
    if not include.exists():  # present before make reads it, so refreshing the stamps never restarts make
        write_if_changed(include, stamps.STAMPS_MK_TEXT)
    return native_size(data_root, default_native)


# ---------------------------------------------------------------------------- clean
def check_clean(artifacts: Path, data_roots: list[Path], checkout: Path) -> None:
    """Refuse to delete anything but a kit-made ARTIFACTS folder."""
    a = artifacts.resolve()
    home = Path(os.path.expanduser("~")).resolve()
    if a == Path("/") or a == home or _inside(checkout.resolve(), a):
        raise Refused(f"ARTIFACTS={artifacts} is {'/' if a == Path('/') else 'your home folder' if a == home else 'the checkout or contains it'}; "
                      "`make clean` deletes only a folder the kit made, set ARTIFACTS to it")
    for data_root in data_roots:
        d = data_root.resolve()
        if _inside(d, a) or _inside(a, d):
            raise Refused(f"ARTIFACTS={artifacts} and DATA_ROOT={data_root} overlap; `make clean` never deletes a dataset, "
                          "move the dataset out of ARTIFACTS first")
    if not a.is_dir():
        raise Refused(f"ARTIFACTS={artifacts} is not a folder; nothing the kit made is there")
    if not (a / MARKER).is_file():
        raise Refused(f"ARTIFACTS={artifacts} has no {MARKER} marker, so the kit did not make it; "
                      "delete it yourself if you are sure")
    foreign = foreign_entries(a)
    if foreign:
        raise Refused(f"ARTIFACTS={artifacts} holds {', '.join(foreign[:10])}, which the kit did not write; "
                      "move them out, then run `make clean` again")
    fd = os.open(a / LOCK, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise Refused(f"a make is running on ARTIFACTS={artifacts}; wait for it to finish, then clean") from None
    finally:
        os.close(fd)


def clean(artifacts: Path, data_roots: list[Path], checkout: Path) -> str:
    import shutil

    if not artifacts.exists() and not artifacts.is_symlink():
        return f"ARTIFACTS={artifacts} does not exist; nothing to clean"
    check_clean(artifacts, data_roots, checkout)
    shutil.rmtree(artifacts)
    return f"removed ARTIFACTS={artifacts}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    pre = sub.add_parser("preflight", help="refusals, marker, lock; prints 'ok <native HxW>' or 'error: ...'")
    pre.add_argument("--artifacts", type=Path, required=True)
    pre.add_argument("--data-root", type=Path, required=True)
    pre.add_argument("--owner-pid", type=int, required=True, help="the make process the lock lives as long as")
    pre.add_argument("--nowait", action="store_true")
    pre.add_argument("--default-native", default=f"{NATIVE_HEIGHT}x{NATIVE_WIDTH}")
    mk = sub.add_parser("mark", help="create ARTIFACTS with its marker")
    mk.add_argument("--artifacts", type=Path, required=True)
    cl = sub.add_parser("clean", help="delete a kit-made ARTIFACTS folder")
    cl.add_argument("--artifacts", type=Path, required=True)
    cl.add_argument("--data-root", type=Path, action="append", default=[])
    cl.add_argument("--checkout", type=Path, required=True)
    args = parser.parse_args(argv)
    try:
        if args.cmd == "preflight":
            print("ok", preflight(args.artifacts, args.data_root, args.owner_pid, args.nowait, args.default_native))
        elif args.cmd == "mark":
            mark(args.artifacts)
        else:
            print(clean(args.artifacts, args.data_root, args.checkout))
    except Refused as exc:
        if args.cmd == "preflight":
            print(f"error: {exc}")  # make turns this line into its own parse-time error
            return 0
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
