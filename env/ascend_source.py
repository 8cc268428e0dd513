#!/usr/bin/env python3
"""aclruntime's pre-flight and source choice for env/install_ascend_extras.sh (issue 25 §2).

Why: the prebuilt aclruntime 0.0.2 wheels are cp37-cp39 only, so the kit's Python builds it from source, and the two
source generations accept different CANN layouts. Ascend/tools 2023-06 (9d6da90) `backend/setup.py get_cann_path()`
looks only at $CANN_PATH, /usr/local/Ascend/nnae/latest/, /usr/local/Ascend/ascend-toolkit/latest/ and
/usr/local/Ascend/ for `runtime/lib64/stub/libascendcl.so`; the 2025-12 ref (!1523, 8da7f64) takes $CANN_PATH or
$ASCEND_TOOLKIT_HOME (then /usr/local/Ascend/cann/ and the same three) and accepts only `runtime/lib64/stub/<arch>/` +
`runtime/include/`, or `<arch>-linux/lib64/` + `<arch>-linux/include/`, with libascendcl.so in that lib folder
(commit 1ff4acca dropped the plain stub path), and calls aclrtSetDeviceSatMode unconditionally (CANN 6.0.1+ headers).
This script reads the installed CANN the same way and picks the ref that fits, or prints why neither does; it also
checks what a source build needs (Python.h, g++, git) and prints the pinned build dependencies for this Python.
Runs under the Python that gets aclruntime (maybe CANN's 3.7): standard library only, Python 3.6 syntax.

  preflight  one `error:` line per missing build need (exit 2), else nothing
  choose     `source=<maintained|mirror2023|local>`, `cann_path=<folder>`, `reason=<why>` lines (exit 0), or one
             `error:` line naming what each ref needs (exit 2)
  pins       the build dependencies to install before `pip install --no-build-isolation`, one per line
"""
import argparse
import os
import platform
import re
import shutil
import sys
import sysconfig

OLD_CANDIDATES = ["/usr/local/Ascend/nnae/latest/", "/usr/local/Ascend/ascend-toolkit/latest/", "/usr/local/Ascend/"]
NEW_CANDIDATES = ["/usr/local/Ascend/cann/"] + OLD_CANDIDATES
SAT_MODE = "aclrtSetDeviceSatMode"
# pip's newest release that installs on each Python (pip download --python-version, 2026-12); setuptools < 81 keeps
# pkg_resources, which every ais_bench era imports
SETUPTOOLS = {(3, 7): "68.0.0", (3, 8): "75.3.4"}
ATTRS = {(3, 7): "24.2.0", (3, 8): "25.3.0"}  # the 2024+ eras import attrs
BUILD_PINS = ["wheel==0.42.0", "pybind11==2.13.6"]


def layout_2023(base):
    """(lib, include) the 2023-06 setup.py would build against in `base`, else None."""
    if base and os.path.exists(os.path.join(base, "runtime/lib64/stub/libascendcl.so")):
        return os.path.join(base, "runtime/lib64/stub"), os.path.join(base, "runtime/include")
    return None


def layout_2025(base, arch):
    """(lib, include) the 2025-12 setup.py would build against in `base`, else None."""
    for lib, include in (("runtime/lib64/stub/%s/" % arch, "runtime/include/"),
                         ("%s-linux/lib64/" % arch, "%s-linux/include/" % arch)):
        lib, include = os.path.join(base, lib), os.path.join(base, include)
        if os.path.exists(lib) and os.path.exists(include):
            return (lib, include) if os.path.exists(os.path.join(lib, "libascendcl.so")) else None
    return None


def has_sat_mode(include):
    """Whether the ACL headers under `include` declare aclrtSetDeviceSatMode (the 2025-12 ref calls it)."""
    for root, _, files in os.walk(include):
        for name in files:
            if name.endswith(".h"):
                with open(os.path.join(root, name), encoding="utf-8", errors="replace") as fh:
                    if SAT_MODE in fh.read():
                        return True
    return False


def _first(candidates, accept):
    for base in candidates:
        if base and accept(base):
            return base
    return None


def choose(environ, arch=None, source="auto", old_candidates=OLD_CANDIDATES, new_candidates=NEW_CANDIDATES):
    """(source, cann_path, reason), or ValueError with one line naming what each ref needs."""
    arch = arch or platform.machine()
    given = environ.get("CANN_PATH") or environ.get("ASCEND_TOOLKIT_HOME") or environ.get("ASCEND_HOME_PATH") or ""
    new_base = _first([given] + list(new_candidates), lambda b: layout_2025(b, arch) is not None)
    old_base = _first([given] + list(old_candidates), lambda b: layout_2023(b) is not None)
    new_ok = new_base is not None and has_sat_mode(layout_2025(new_base, arch)[1])
    where = given or "/usr/local/Ascend"
    why_not_new = ("no runtime/lib64/stub/%s/ + runtime/include/ nor %s-linux/lib64/ + %s-linux/include/ with "
                   "libascendcl.so under %s" % (arch, arch, arch, where) if new_base is None else
                   "the ACL headers under %s do not declare %s (CANN < 6.0.1)" % (new_base, SAT_MODE))
    why_not_old = "no runtime/lib64/stub/libascendcl.so under %s" % where
    if source in ("auto", "maintained") and new_ok:
        return "maintained", new_base, "the 2025-12 ref's get_cann_path() accepts %s and its headers have %s" % (
            new_base, SAT_MODE)
    if source in ("auto", "mirror2023") and old_base is not None:
        return "mirror2023", old_base, ("the 2023-06 mirror's get_cann_path() accepts %s (runtime/lib64/stub/"
                                        "libascendcl.so); the 2025-12 ref does not fit: %s" % (old_base, why_not_new))
    if source == "maintained":
        raise ValueError("AIS_BENCH_SOURCE=maintained (the 2025-12 ref) cannot build against this CANN: %s; use "
                         "AIS_BENCH_SOURCE=auto or mirror2023, or prebuilt wheels (AIS_BENCH_WHEELS)" % why_not_new)
    raise ValueError("neither aclruntime source fits this CANN: the 2025-12 ref needs runtime/lib64/stub/%s/ or "
                     "%s-linux/lib64/ (%s), the 2023-06 mirror needs runtime/lib64/stub/libascendcl.so (%s); source "
                     "CANN's set_env.sh (ASCEND_TOOLKIT_HOME) or set CANN_PATH to the toolkit folder"
                     % (arch, arch, why_not_new, why_not_old))


def local_generation(clone):
    """'maintained' or 'mirror2023': which get_cann_path() a local clone's backend/setup.py has."""
    path = os.path.join(clone, "ais-bench_workload/tool/ais_bench/backend/setup.py")
    with open(path, encoding="utf-8", errors="replace") as fh:
        return "maintained" if "-linux/lib64/" in fh.read() else "mirror2023"


def preflight(environ, python_h=None):
    """One line per missing need of a source build: Python.h, g++, git."""
    problems = []
    include = sysconfig.get_paths().get("include") or ""
    python_h = python_h or os.path.join(include, "Python.h")
    minor = "python%d.%d" % tuple(sys.version_info[:2])
    if not os.path.isfile(python_h):
        problems.append("%s has no Python.h (%s), which aclruntime's build needs: install the -dev headers "
                        "(`apt install %s-dev` or `dnf install %s-devel`), or use a uv/conda/pyenv Python"
                        % (sys.executable, python_h, minor, minor))
    path = environ.get("PATH", "")
    if shutil.which("g++", path=path) is None:
        problems.append("no g++ on PATH, which aclruntime's build needs (C++11): `apt install g++` or "
                        "`dnf install gcc-c++` (GCC newer than 4.8)")
    if shutil.which("git", path=path) is None and not environ.get("AIS_BENCH_WHEELS"):
        problems.append("no git on PATH, which pip needs to fetch the source: install git, or give a local clone "
                        "(AIS_BENCH_SOURCE=/path/to/tools) or wheels (AIS_BENCH_WHEELS)")
    return problems


def build_pins():
    """setuptools (below 81, for pkg_resources), attrs, wheel and pybind11 pins that install on this Python
    (3.9+: the kit's own setuptools 80.10.2 and attrs 26.1.0 of env/requirements.txt)."""
    here = tuple(sys.version_info[:2])
    return ["setuptools==%s" % SETUPTOOLS.get(here, "80.10.2"), "attrs==%s" % ATTRS.get(here, "26.1.0")] + BUILD_PINS


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("command", choices=["preflight", "choose", "pins"])
    p.add_argument("--source", default="auto", help="AIS_BENCH_SOURCE: auto, maintained, mirror2023 or a clone")
    p.add_argument("--arch", default=None, help="machine (default: this one)")
    args = p.parse_args(argv)
    if args.command == "pins":
        print("\n".join(build_pins()))
        return 0
    if args.command == "preflight":
        problems = preflight(os.environ)
        for line in problems:
            sys.stderr.write("error: %s\n" % line)
        return 2 if problems else 0
    source = args.source
    if os.path.isdir(source):
        source = local_generation(source)
    try:
        chosen, cann_path, reason = choose(os.environ, args.arch, source)
    except ValueError as exc:
        sys.stderr.write("error: %s\n" % exc)
        return 2
    print("source=%s\ncann_path=%s\nreason=%s" % (chosen, cann_path, reason))
    return 0


if __name__ == "__main__":
    sys.exit(main())
