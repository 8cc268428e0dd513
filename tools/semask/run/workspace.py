"""The ARTIFACTS root: one kit run at a time, a marker saying the kit made it, and a safe `make clean`.

Why: two `make all` on one ARTIFACTS race on the same temp and target files, and `rm -rf
$(ARTIFACTS)` unchecked deletes whatever the variable points at. So the Makefile's pipeline verbs
call `preflight` once while make reads the Makefile (make needs its answer: the dataset's native
size names the ONNX, and a refused run must not start): it refuses a DATA_ROOT inside ARTIFACTS,
marks the root as the kit's, and takes an exclusive `flock` held by a small helper process for as
long as that make runs; every step that writes holds a shared lock of its own (`writer_lock`), so a
killed make cannot hand the folder to a second run while one of its steps still writes. `clean`
deletes exactly what the kit made (semask.run.inventory) and nothing when anything else is there.
Standard library only: this runs before `.venv` exists.
"""
from __future__ import annotations

import errno
import fcntl
import os
import select
import sys
import time
from pathlib import Path

from semask.core.errors import KitError
from semask.core.procs import pid_alive
from semask.data.cityscapes import png_size
from semask.core.ledger import RECORDS
from semask.core.locks import ARTIFACTS_ENV, LOCK, WRITERS, Refused, lineage, try_lock, writer_lock  # noqa: F401
from semask.run.inventory import MARKER, inventory

# Top-level entries the kit writes into ARTIFACTS (`.gitkeep`: the placeholder older checkouts tracked).
KIT_ENTRIES = frozenset({"onnx", "om", "bins", "labels", "preds", "reports", "perf", "env", "crosscheck", "demo",
                         "demo-data", ".state", MARKER, LOCK, WRITERS, RECORDS, ".gitkeep"})
QUIET_RETRY_SECONDS = 1.0  # a previous make may still be releasing the lock: wait this long silently
FOREIGN_SHOWN = 5  # foreign paths a refused `make clean` names (then the count)


def _inside(child: Path, parent: Path) -> bool:
    return child == parent or parent in child.parents


def real(path: Path, variable: str) -> Path:
    """`path` with every symlink resolved; a symlink loop is one refusal naming the variable and path."""
    try:
        return Path(path).resolve(strict=True)  # os.path.realpath(strict=) is 3.10+; parse time may be on 3.7
    except (OSError, RuntimeError) as exc:  # a loop: RuntimeError before Python 3.13, ELOOP from 3.13
        if isinstance(exc, RuntimeError) or exc.errno == errno.ELOOP:
            raise Refused(f"{variable}={path} is a symlink loop (a link that leads back to itself); "
                          f"point the link at a real folder or set {variable} to one") from None
        return Path(os.path.realpath(path))  # not there (yet): resolve what is


def check_artifacts_root(artifacts: Path, checkout: Path, home: Path) -> None:
    """Refuse, before anything is written, an ARTIFACTS that is not a folder for the kit's outputs alone.

    Refused: `/`, the home folder, the checkout or any folder holding it, a folder inside the checkout
    other than `artifacts/...` (the tracked code and `env/` live there), and an existing folder that
    holds something other than kit entries without the kit's marker (a folder that holds only kit
    entries is one an older kit made before the marker existed). Symlinks are resolved first.
    """
    a = real(artifacts, "ARTIFACTS")
    c, h = Path(os.path.realpath(checkout)), Path(os.path.realpath(home))
    fix = "set ARTIFACTS to a new folder of its own, e.g. ARTIFACTS=artifacts (the default) or ARTIFACTS=/data/semask-artifacts"
    if a == Path(a.anchor):
        raise Refused(f"ARTIFACTS={artifacts} is the root folder /, which the kit would fill and `make clean` empty; {fix}")
    if a == h:
        raise Refused(f"ARTIFACTS={artifacts} is your home folder, which the kit would fill and `make clean` empty; {fix}")
    if _inside(c, a):
        what = "the checkout" if a == c else f"a folder that holds the checkout ({c})"
        raise Refused(f"ARTIFACTS={artifacts} is {what}, where the kit's code and env/ are tracked; {fix}")
    if _inside(a, c) and not _inside(a, c / "artifacts"):
        raise Refused(f"ARTIFACTS={artifacts} is inside the checkout but not under its artifacts/ folder, where the "
                      f"kit's tracked files live; {fix}")
    if a.is_dir() and not (a / MARKER).is_file():
        foreign = foreign_entries(a)
        if foreign:
            shown = ", ".join(foreign[:FOREIGN_SHOWN]) + (f" (+{len(foreign) - FOREIGN_SHOWN} more)" if len(foreign) > FOREIGN_SHOWN else "")
            raise Refused(f"ARTIFACTS={artifacts} is an existing folder the kit did not make (it holds {shown} and no "
                          f"{MARKER} marker); {fix}")


def check_data_root(artifacts: Path, data_root: Path) -> None:
    """The pipeline never writes into DATA_ROOT and `make clean` never reaches it."""
    a, d = real(artifacts, "ARTIFACTS"), real(data_root, "DATA_ROOT")
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


def _read_only(path: Path) -> bool:
    """True when the file system holding `path` (or its nearest existing parent) is mounted read-only."""
    probe = Path(path)
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    try:
        return bool(os.statvfs(probe).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def mark(artifacts: Path) -> bool:
    """Create ARTIFACTS and its marker when the folder is new, empty or holds only kit entries."""
    real(artifacts, "ARTIFACTS")
    try:
        artifacts.mkdir(parents=True, exist_ok=True)
        if not os.access(artifacts, os.W_OK | os.X_OK):
            raise PermissionError(errno.EACCES, "no write permission")
    except OSError as exc:
        if exc.errno == errno.EROFS or _read_only(artifacts):
            raise Refused(f"ARTIFACTS={artifacts} is on a read-only file system; set ARTIFACTS to a folder on a "
                          "writable disk (or remount it read-write)", blames_variables=False) from None
        raise Refused(f"ARTIFACTS={artifacts} is not a writable folder ({exc.strerror or exc}); "
                      "set ARTIFACTS to a folder you can write") from None
    marker = artifacts / MARKER
    if marker.exists():
        return True
    if foreign_entries(artifacts):
        return False
    marker.write_text("Written by the SeMask-FPN kit: `make clean` may delete this folder.\n", encoding="utf-8")
    return True


def mark_checked(artifacts: Path, checkout: Path) -> bool:
    """`mark` after the ARTIFACTS refusals (never $HOME, /, the checkout, a foreign folder)."""
    check_artifacts_root(artifacts, checkout, Path(os.path.expanduser("~")))
    return mark(artifacts)


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
    while pid_alive(pid):
        time.sleep(0.1)


def lock(artifacts: Path, owner_pid: int, nowait: bool) -> None:
    """Take the ARTIFACTS lock and leave a child process holding it until `owner_pid` (make) exits."""
    fd = os.open(artifacts / LOCK, os.O_RDWR | os.O_CREAT, 0o666)
    deadline = time.monotonic() + QUIET_RETRY_SECONDS
    told = False
    while not try_lock(fd):
        holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "?"
        if holder in lineage(owner_pid):  # make re-executed itself after updating an include (same pid),
            os.close(fd)                   # or a recipe runs $(MAKE) on the same ARTIFACTS: already ours
            return
        if time.monotonic() < deadline:
            time.sleep(0.05)
            continue
        if nowait:
            os.close(fd)
            raise Refused(f"another make (pid {holder}) is running on ARTIFACTS={artifacts}; wait for it, use "
                          "another ARTIFACTS, or leave NOWAIT unset to wait", blames_variables=False)
        if not told:
            print(f"another make (pid {holder}) is running on ARTIFACTS={artifacts}; waiting for it to finish "
                  "(NOWAIT=1 refuses instead)", file=sys.stderr, flush=True)
            told = True
        fcntl.flock(fd, fcntl.LOCK_EX)
        break
    try:
        _wait_for_writers(artifacts, nowait)
    except Refused:
        os.close(fd)
        raise
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


def _wait_for_writers(artifacts: Path, nowait: bool) -> None:
    """With the run lock held: wait until no step of an earlier run still writes (its make may be gone)."""
    fd = os.open(artifacts / WRITERS, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        if not try_lock(fd):
            if nowait:
                raise Refused(f"a step of an earlier make is still writing in ARTIFACTS={artifacts} (its make was "
                              "killed, the step was not); wait for it to finish, or leave NOWAIT unset to wait",
                              blames_variables=False) from None
            print(f"a step of an earlier make is still writing in ARTIFACTS={artifacts}; waiting for it to finish "
                  "(NOWAIT=1 refuses instead)", file=sys.stderr, flush=True)
            fcntl.flock(fd, fcntl.LOCK_EX)
        fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


# ---------------------------------------------------------------------------- native size
def native_size(data_root: Path, default: str) -> str:
    """'HxW' of most of the dataset's val images (the size labels and scoring use; an odd first frame must
    not set it), else `default`. Only the PNG headers are read."""
    val = data_root / "leftImg8bit" / "val"
    try:
        cities = sorted(p for p in val.iterdir() if p.is_dir())
    except OSError:
        return default
    sizes: dict[tuple[int, int], int] = {}
    for city in cities:
        for image in sorted(city.glob("*_leftImg8bit.png")):
            size = png_size(image)
            if size:
                sizes[size] = sizes.get(size, 0) + 1
    if not sizes:
        return default
    height, width = max(sizes, key=lambda s: sizes[s])
    return f"{height}x{width}"


def preflight(artifacts: Path, data_root: Path, owner_pid: int, nowait: bool, default_native: str,
              dry_run: bool = False) -> str:
    """Everything a pipeline verb needs settled before make plans: refusals, marker, lock, native size.
    The checkout is the current folder (make runs there).

    dry_run (make -n / -q): the same refusals and native size, but no marker and no lock: nothing written."""
    real(data_root, "DATA_ROOT")
    if data_root.is_file():
        raise Refused(f"DATA_ROOT={data_root} is a file, not a folder; set DATA_ROOT to the folder that holds "
                      "leftImg8bit/ and gtFine/")
    check_data_root(artifacts, data_root)
    check_artifacts_root(artifacts, Path.cwd(), Path(os.path.expanduser("~")))
    if dry_run:
        return native_size(data_root, default_native)
    if not mark(artifacts):
        print(f"warning: ARTIFACTS={artifacts} holds files the kit did not write ({', '.join(foreign_entries(artifacts)[:5])}); "
              "`make clean` will refuse to delete it", file=sys.stderr)
    lock(artifacts, owner_pid, nowait)
    return native_size(data_root, default_native)


# ---------------------------------------------------------------------------- clean
def check_clean(artifacts: Path, data_roots: list[Path], checkout: Path) -> None:
    """Refuse to delete anything but a kit-made ARTIFACTS folder."""
    a = real(artifacts, "ARTIFACTS")
    home = Path(os.path.expanduser("~")).resolve()
    if a == Path("/") or a == home or _inside(checkout.resolve(), a):
        raise Refused(f"ARTIFACTS={artifacts} is {'/' if a == Path('/') else 'your home folder' if a == home else 'the checkout or contains it'}; "
                      "`make clean` deletes only a folder the kit made, set ARTIFACTS to it")
    for data_root in data_roots:
        d = real(data_root, "DATA_ROOT")
        if _inside(d, a) or _inside(a, d):
            raise Refused(f"ARTIFACTS={artifacts} and DATA_ROOT={data_root} overlap; `make clean` never deletes a dataset, "
                          "move the dataset out of ARTIFACTS first")
    if not a.is_dir():
        raise Refused(f"ARTIFACTS={artifacts} is not a folder; nothing the kit made is there")
    if not (a / MARKER).is_file():
        raise Refused(f"ARTIFACTS={artifacts} has no {MARKER} marker, so the kit did not make it; "
                      "delete it yourself if you are sure")
    fd = os.open(a / LOCK, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        if not try_lock(fd):
            raise Refused(f"a make is running on ARTIFACTS={artifacts}; wait for it to finish, then clean")
    finally:
        os.close(fd)


def _hold_writers(artifacts: Path, root: Path, nowait: bool) -> int:
    """Take the writers' lock exclusively (no step of a killed make still writes); return its descriptor."""
    fd = os.open(root / WRITERS, os.O_RDWR | os.O_CREAT, 0o666)
    if try_lock(fd):
        return fd
    if nowait:
        os.close(fd)
        raise Refused(f"a step of an earlier make is still writing in ARTIFACTS={artifacts} (its make was killed, the "
                      "step was not); nothing was deleted: wait for it to finish, or leave NOWAIT unset to wait")
    print(f"a step of an earlier make is still writing in ARTIFACTS={artifacts}; waiting for it to finish before "
          "cleaning (NOWAIT=1 refuses instead)", file=sys.stderr, flush=True)
    fcntl.flock(fd, fcntl.LOCK_EX)
    return fd


def clean(artifacts: Path, data_roots: list[Path], checkout: Path, nowait: bool = False) -> str:
    """Delete exactly the files and folders the kit made below ARTIFACTS, or nothing.

    A symlinked ARTIFACTS is resolved first; the folder it points to is emptied of the kit's files but
    kept, as is the link (the user made both). Anything the kit did not make refuses the whole clean.
    The writers' lock is held throughout: a step a killed make left writing finishes first (NOWAIT=1:
    refused), so nothing is deleted under it.
    """
    if not artifacts.exists() and not artifacts.is_symlink():
        return f"ARTIFACTS={artifacts} does not exist; nothing to clean"
    check_clean(artifacts, data_roots, checkout)
    root = real(artifacts, "ARTIFACTS")
    writers = _hold_writers(artifacts, root, nowait)
    try:
        return _clean_held(artifacts, root)
    finally:
        os.close(writers)


def _clean_held(artifacts: Path, root: Path) -> str:
    """`clean` with the writers' lock held."""
    found = inventory(root)
    if found.foreign:
        n = len(found.foreign)
        shown = ", ".join(found.foreign[:FOREIGN_SHOWN]) + (f" (+{n - FOREIGN_SHOWN} more)" if n > FOREIGN_SHOWN else "")
        raise Refused(f"ARTIFACTS={artifacts} holds {n} path(s) the kit did not make: {shown}; nothing was deleted: "
                      "move them out of ARTIFACTS, then run `make clean` again")
    linked = artifacts.is_symlink()
    left = []
    fd = os.open(root / LOCK, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        if not try_lock(fd):  # held while deleting: a make started meanwhile waits (or refuses), never writes between
            raise Refused(f"a make started on ARTIFACTS={artifacts}; wait for it to finish, then clean")
        for path in found.files:
            path.unlink(missing_ok=True)
        for folder in sorted(found.dirs, key=lambda p: len(p.parts), reverse=True):
            if folder == root and linked:
                continue
            try:
                folder.rmdir()
            except FileNotFoundError:
                pass
            except OSError:
                left.append(folder)
    finally:
        os.close(fd)
    if left:
        raise Refused(f"{len(left)} folder(s) under ARTIFACTS={artifacts} were not empty after the kit's files were "
                      f"removed (something wrote there meanwhile): {', '.join(map(str, left[:FOREIGN_SHOWN]))}; "
                      "they and what they hold were kept")
    if linked:
        return f"removed the kit's {len(found.files)} files from ARTIFACTS={artifacts} (resolved: {root}); kept the folder"
    return f"removed ARTIFACTS={artifacts} ({len(found.files)} files the kit made)"

