#!/usr/bin/env python3
"""Before `make env` creates .venv: pick the interpreter, and check the host can install the pinned wheels.

Why: Ascend hosts and containers commonly ship Python 3.7-3.10 (the SeMask guide: CANN 6.0.RC1 with
Python 3.7.5) and older glibc (Ubuntu 18.04: 2.27). The kit's pins need Python >= 3.11 (numpy 2.4.6) and
glibc >= 2.28 (torch and onnxruntime have only manylinux_2_28 wheels), so without these checks `make env`
fails deep inside pip with a resolver error. This script runs under whatever python3 the host has, before
.venv exists: standard library only, and Python 3.6 syntax (no walrus, no `from __future__ import annotations`).

  check    print the interpreter that should create .venv: HOST_PYTHON when given, else the first of
           python3.14 ... python3.11, then python3, on PATH that is >= 3.11; one `error:` line per problem
           (exit 2) when there is none, or when glibc, the machine or the free disk space do not fit.
  parse-python  print the interpreter of make's parse-time plan (semask.run.plan needs Python >= 3.7): this
           python3 when it is new enough, else HOST_PYTHON, else the first python3.14 ... python3.11 on PATH, with one
           `note:` line saying so; one `error:` line (exit 2) when there is none.
  relocate rewrite the absolute path a venv was built at (the temporary .venv.partial) in its bin/ scripts and
           pyvenv.cfg to its final name, just before the rename (a venv records where it was made).

Test hooks (simulate another host; nothing else reads them): SEMASK_HOST_GLIBC=2.27, SEMASK_HOST_MACHINE=armv7l,
SEMASK_HOST_FREE_BYTES=1000.
"""
import argparse
import os
import platform
import re
import shutil
import subprocess
import sys

MIN_PYTHON = (3, 11)
MIN_GLIBC = (2, 28)
PLAN_PYTHON = (3, 7)  # semask.run.plan and what it imports: `from __future__ import annotations`, dataclasses
MACHINES = ("x86_64", "aarch64")
NEED_BYTES = 3 * 10 ** 9  # torch's CPU wheel, the others and pip's cache, unpacked: about 3 GB
# Pins with no wheel below manylinux_2_28 (need glibc >= 2.28; `make platforms`, 2026-12-03: numpy, opencv and
# the others also have manylinux_2_17..2_27 wheels); versions are read from requirements.txt.
GLIBC_2_28_PINS = ("torch", "onnxruntime")
PREFERRED = ["python3.%d" % minor for minor in range(14, MIN_PYTHON[1] - 1, -1)] + ["python3"]
LISTED = ["python3.%d" % minor for minor in range(14, 5, -1)] + ["python3", "python"]
VERSION_SNIPPET = "import sys; print('%d.%d.%d' % tuple(sys.version_info[:3]))"
WAYS = ("ways to get Python 3.11: your distribution's package with its headers, which the aclruntime build needs "
        "(e.g. `apt install python3.11 python3.11-venv python3.11-dev`, `dnf install python3.11 python3.11-devel`), "
        "then `make env HOST_PYTHON=/usr/bin/python3.11`; or `uv python install 3.11` "
        "and then `make env HOST_PYTHON=\"$(uv python find 3.11)\"`; or conda: `conda create -p ~/py311 python=3.11` "
        "and then `make env HOST_PYTHON=~/py311/bin/python3.11`")


class HostError(Exception):
    """One line each (`lines`), printed as `error: ...`."""

    def __init__(self, lines):
        Exception.__init__(self, "; ".join(lines))
        self.lines = list(lines)


def version_tuple(text):
    """'3.9.18' -> (3, 9, 18); None when `text` holds no version."""
    found = re.search(r"(\d+)\.(\d+)(?:\.(\d+))?", text or "")
    if not found:
        return None
    return tuple(int(g or 0) for g in found.groups())


def shown(version):
    return ".".join(str(v) for v in version)


def interpreter_version(path, timeout=20):
    """The Python version `path` reports, or None when it does not run."""
    try:
        proc = subprocess.run([path, "-c", VERSION_SNIPPET], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              universal_newlines=True, timeout=timeout)
    except (OSError, subprocess.SubprocessError):
        return None
    if proc.returncode != 0:
        return None
    return version_tuple(proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else "")


def choose_python(host_python=None, path=None):
    """The interpreter that creates .venv (absolute path); HostError in one line when none fits."""
    need = shown(MIN_PYTHON)
    if host_python:
        exe = shutil.which(host_python, path=path) or host_python
        version = interpreter_version(exe)
        if version is None:
            raise HostError(["HOST_PYTHON=%s does not run as a Python interpreter; %s" % (host_python, WAYS)])
        if version[:2] < MIN_PYTHON:
            raise HostError(["HOST_PYTHON=%s is Python %s, but the kit's pins need Python >= %s (numpy 2.4.6 "
                             "requires it); %s" % (host_python, shown(version), need, WAYS)])
        return os.path.abspath(exe)
    found = []
    seen = set()
    for name in LISTED:
        exe = shutil.which(name, path=path)
        if exe is None or (name not in PREFERRED and os.path.realpath(exe) in seen):
            continue
        seen.add(os.path.realpath(exe))
        version = interpreter_version(exe)
        found.append((name, exe, version))
        if name in PREFERRED and version is not None and version[:2] >= MIN_PYTHON:
            return os.path.abspath(exe)
    listing = ", ".join("%s (%s)" % (exe, shown(v) if v else "does not run") for _, exe, v in found) or "none"
    raise HostError(["no Python >= %s on PATH for .venv (looked for %s); found: %s; %s"
                     % (need, " ".join(PREFERRED), listing, WAYS)])


def pinned(requirements):
    """name -> version of the `name==version` lines of requirements.txt."""
    pins = {}
    try:
        with open(requirements) as fh:
            for line in fh:
                found = re.match(r"\s*([A-Za-z0-9_.\-]+)\s*==\s*([^\s;#]+)", line)
                if found:
                    pins[found.group(1).lower()] = found.group(2)
    except OSError:
        pass
    return pins


def glibc_version():
    """The host's glibc version (SEMASK_HOST_GLIBC overrides, for tests); None when not glibc (e.g. musl)."""
    fake = os.environ.get("SEMASK_HOST_GLIBC")
    if fake:
        return version_tuple(fake)
    try:
        text = os.confstr("CS_GNU_LIBC_VERSION")  # e.g. 'glibc 2.36'
    except (AttributeError, ValueError, OSError):
        text = None
    if not text:
        lib, ver = platform.libc_ver()
        text = ver if lib == "glibc" else ""
    return version_tuple(text)


def host_problems(checkout, requirements):
    """One line per reason the pinned wheels cannot be installed here: glibc, machine, free disk."""
    problems = []
    pins = pinned(requirements)
    wheels = ", ".join("%s %s" % (name, pins.get(name, "?")) for name in GLIBC_2_28_PINS)
    glibc = glibc_version()
    if glibc is None:
        problems.append("this host's C library is not glibc (musl?): the pinned wheels (%s) are manylinux_2_28 and "
                        "need glibc >= %s; use a glibc distribution or container" % (wheels, shown(MIN_GLIBC)))
    elif glibc[:2] < MIN_GLIBC:
        problems.append("this host has glibc %s, but the pinned wheels %s are manylinux_2_28 and need glibc >= %s "
                        "(Ubuntu 18.04 has 2.27); use a newer distribution or container (Ubuntu 20.04+, EulerOS 2.0 "
                        "SP8+, openEuler)" % (shown(glibc[:2]), wheels, shown(MIN_GLIBC)))
    machine = os.environ.get("SEMASK_HOST_MACHINE") or platform.machine()
    if machine not in MACHINES:
        problems.append("this host's machine is %s; the kit's pinned wheels exist for %s only (`make platforms` "
                        "lists them)" % (machine, " and ".join(MACHINES)))
    fake_free = os.environ.get("SEMASK_HOST_FREE_BYTES")
    free = int(fake_free) if fake_free else shutil.disk_usage(checkout).free
    if free < NEED_BYTES:
        problems.append("%.1f GB free under %s, but .venv needs about %.0f GB (torch alone is ~0.8 GB unpacked); "
                        "free some space or put the checkout on a larger disk" % (free / 1e9, checkout, NEED_BYTES / 1e9))
    return problems


def parse_python(host_python=None, path=None):
    """The interpreter of make's parse-time work and the `note:` line when it is not this python3 (else None)."""
    here = tuple(sys.version_info[:3])
    if here[:2] >= PLAN_PYTHON:
        return "python3", None
    candidates = ([host_python] if host_python else []) + PREFERRED[:-1]
    for name in candidates:
        exe = shutil.which(name, path=path) or (name if os.path.isabs(name) else None)
        version = interpreter_version(exe) if exe else None
        if version is not None and version[:2] >= PLAN_PYTHON:
            note = ("note: python3 is Python %s, older than the %s make's parse-time plan needs; using %s (%s) for it"
                    % (shown(here), shown(PLAN_PYTHON), os.path.abspath(exe), shown(version)))
            return os.path.abspath(exe), note
    given = " (HOST_PYTHON=%s does not run as one)" % host_python if host_python else ""
    raise HostError(["python3 is Python %s, but make's parse-time plan needs Python >= %s and there is none of %s on "
                     "PATH%s; give one with HOST_PYTHON=/path/to/python3.11 (it also creates .venv); %s"
                     % (shown(here), shown(PLAN_PYTHON), " ".join(PREFERRED[:-1]), given, WAYS)])


def relocate(venv, new):
    """Replace `venv`'s absolute path by `new`'s in its bin/ text files and pyvenv.cfg (before the rename)."""
    old = os.path.abspath(venv)
    new = os.path.abspath(new)
    candidates = [os.path.join(venv, "pyvenv.cfg")]
    bin_dir = os.path.join(venv, "bin")
    candidates += [os.path.join(bin_dir, n) for n in sorted(os.listdir(bin_dir))]
    changed = 0
    for path in candidates:
        if os.path.islink(path) or not os.path.isfile(path):
            continue
        with open(path, "rb") as fh:
            data = fh.read()
        if b"\0" in data[:4096] or old.encode() not in data:
            continue
        tmp = path + ".relocate"
        with open(tmp, "wb") as fh:
            fh.write(data.replace(old.encode(), new.encode()))
        shutil.copymode(path, tmp)
        os.replace(tmp, path)
        changed += 1
    return changed


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd")
    chk = sub.add_parser("check", help="print the interpreter for .venv, or one error line per problem")
    chk.add_argument("--python", default=None, help="HOST_PYTHON: the interpreter to use")
    chk.add_argument("--checkout", default=".", help="where .venv goes (its disk must have ~3 GB free)")
    chk.add_argument("--requirements", default=os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                             "requirements.txt"))
    pp = sub.add_parser("parse-python", help="print the interpreter of make's parse-time plan")
    pp.add_argument("--python", default=None, help="HOST_PYTHON, the first choice when python3 is too old")
    rel = sub.add_parser("relocate", help="make a venv built under a temporary name record its final path")
    rel.add_argument("--venv", required=True, help="the venv as built (e.g. .venv.partial)")
    rel.add_argument("--to", required=True, help="where it will be renamed to (e.g. .venv)")
    args = p.parse_args(argv)
    if args.cmd == "relocate":
        relocate(args.venv, args.to)
        return 0
    if args.cmd is None:
        p.error("give a command: check, parse-python or relocate")
    try:
        if args.cmd == "parse-python":
            python, note = parse_python(args.python)
            if note:
                sys.stderr.write(note + "\n")
            print(python)
            return 0
        python = choose_python(args.python)
        problems = host_problems(args.checkout, args.requirements)
        if problems:
            raise HostError(problems)
    except HostError as exc:
        for line in exc.lines:
            sys.stderr.write("error: %s\n" % line)
        return 2
    print(python)
    return 0


if __name__ == "__main__":
    sys.exit(main())
