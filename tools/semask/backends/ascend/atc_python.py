"""The `python3` atc's op compiler will run: CANN's Python, never the kit's venv (issue 25 §3).

Why: ATC's te_fusion runs `python3 -V` and `python3-config --prefix` from PATH, loads that interpreter's
`libpython3.Y.so` and imports te/tbe (with numpy < 2) in it. With the kit's .venv (Python 3.11, numpy 2.x) or any
activated venv/conda env first on PATH, every compile fails after the export with E40001, E40020 or
`E40000: Failed to import te.platform.log_util`. This module checks that interpreter before the export (parse time)
and just before atc, one line per failure naming the interpreter and the fix; ATC_PYTHON puts CANN's interpreter's
folder first on PATH for atc alone. Standard library only (it runs at parse time).
"""
from __future__ import annotations

import glob
import json
import os
import re
import shutil
import subprocess
from typing import Mapping

from semask.core.errors import KitError

EXAMPLE = "/usr/local/python3.7.5/bin/python3"  # where CANN 6.0's install guide puts its Python
# CANN release -> the Python minor versions its install guide supports (docs/ASCEND_HOST.md); unknown: 3.7+ only
SUPPORTED: tuple[tuple[str, tuple[int, int], tuple[int, int]], ...] = (
    (r"^[1-5]\.|^6\.0", (3, 7), (3, 9)),
    (r"^6\.[1-9]|^7\.|^8\.0\.RC", (3, 7), (3, 10)),
    (r"^8\.[0-4]", (3, 7), (3, 11)),
    (r"^8\.", (3, 7), (3, 13)),
    (r"^9\.", (3, 7), (3, 14)),
)
DEPS = "decorator sympy scipy psutil attrs cffi pyyaml 'numpy<2'"

_SNIPPET = r"""
import json, sys
out = {"version": list(sys.version_info[:3]), "numpy": None, "te": None}
try:
    import numpy
    out["numpy"] = numpy.__version__
except Exception:
    pass
try:
    import te, tbe
except BaseException as exc:
    out["te"] = "%s: %s" % (type(exc).__name__, exc)
print(json.dumps(out))
"""


def atc_environ(environ: Mapping[str, str], atc_python: str | None) -> dict[str, str]:
    """The environment atc runs in: ATC_PYTHON's folder first on PATH and no VIRTUAL_ENV (else `environ` as is)."""
    env = dict(environ)
    if atc_python:
        env["PATH"] = os.path.dirname(os.path.abspath(atc_python)) + os.pathsep + env.get("PATH", "")
        env.pop("VIRTUAL_ENV", None)
    return env


def supported_range(cann: str | None) -> tuple[tuple[int, int], tuple[int, int] | None]:
    """(oldest, newest) Python minor CANN `cann` supports; newest None when the release is unknown."""
    for pattern, low, high in SUPPORTED:
        if cann and re.match(pattern, cann):
            return low, high
    return (3, 7), None


def _venv_of(python: str) -> str | None:
    """The virtual environment `python` (as found on PATH, links not followed) belongs to, if any."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(python)))
    return root if os.path.isfile(os.path.join(root, "pyvenv.cfg")) else None


def _run(cmd: list[str], env: Mapping[str, str]) -> tuple[int, str]:
    try:
        proc = subprocess.run(cmd, env=dict(env), capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return 127, str(exc)
    return proc.returncode, (proc.stdout.strip() or proc.stderr.strip())


def _fix(python: str | None = None) -> str:
    return f"ATC_PYTHON={EXAMPLE} (CANN's Python; its folder goes first on PATH for atc alone)"


def _which_python3(environ: Mapping[str, str], atc_python: str | None) -> str:
    """The python3 atc will find (checked against ATC_PYTHON when given)."""
    if atc_python and not (os.path.isfile(atc_python) and os.access(atc_python, os.X_OK)):
        raise KitError(f"ATC_PYTHON={atc_python} is not an executable file; point it at CANN's Python, e.g. {EXAMPLE}")
    env = atc_environ(environ, atc_python)
    python = shutil.which("python3", path=env.get("PATH", ""))
    if python is None:
        raise KitError(f"atc's op compiler runs `python3` from PATH and there is none; fix: {_fix()}")
    if atc_python and os.path.realpath(python) != os.path.realpath(atc_python):
        raise KitError(f"ATC_PYTHON={atc_python}, but the python3 in its folder is {os.path.realpath(python)}, another "
                       "interpreter (atc's op compiler runs `python3` from PATH); give the folder's python3, e.g. "
                       f"{EXAMPLE}")
    venv = _venv_of(python)
    if environ.get("VIRTUAL_ENV") and not atc_python:
        raise KitError(f"VIRTUAL_ENV={environ['VIRTUAL_ENV']} is set (an activated venv), so atc's op compiler would "
                       f"run its python3 ({python}), not CANN's Python (E40001/E40020 after the export); fix: "
                       f"`deactivate`, or {_fix()}")
    if venv:
        raise KitError(f"atc would run python3 = {python}, inside the virtual environment {venv} (the kit's .venv is "
                       "Python 3.11 with numpy 2), which CANN's op compiler cannot use (E40001/E40020 after the "
                       f"export); fix: `deactivate` or take {os.path.dirname(python)} off PATH, or {_fix()}")
    return python


def check_atc_python(environ: Mapping[str, str], atc_python: str | None = None, cann: str | None = None) -> str:
    """The python3 atc will run (absolute path) when CANN's op compiler can use it; else one KitError line."""
    python = _which_python3(environ, atc_python)
    env = atc_environ(environ, atc_python)
    code, text = _run([python, "-c", _SNIPPET], env)
    try:
        found = json.loads(text.splitlines()[-1])
    except (ValueError, IndexError):
        raise KitError(f"atc would run python3 = {python}, which does not run ({text or f'exit {code}'}); "
                       f"fix: {_fix()}") from None
    version = tuple(found["version"])
    shown = ".".join(map(str, version))
    low, high = supported_range(cann)
    if version[:2] < low or (high and version[:2] > high):
        span = f"{low[0]}.{low[1]}-{high[0]}.{high[1]}" if high else f"{low[0]}.{low[1]}+"
        release = f"CANN {cann}" if cann else "CANN"
        raise KitError(f"atc would run python3 = {python} (Python {shown}), but {release} supports Python {span} "
                       f"(E40002 below 3.7); fix: {_fix()}")
    code, prefix = _run([os.path.join(os.path.dirname(python), "python3-config"), "--prefix"], env)
    if code != 0 or not prefix:
        raise KitError(f"atc would run python3 = {python}, but `python3-config --prefix` beside it fails ({prefix}); "
                       f"CANN's op compiler loads libpython through it (E40001); fix: install that Python's -dev/-devel "
                       f"package, or {_fix()}")
    name = f"libpython{version[0]}.{version[1]}*.so*"  # <prefix>/lib, or Debian's multiarch <prefix>/lib/<triplet>
    libs = glob.glob(os.path.join(prefix, "lib*", name)) + glob.glob(os.path.join(prefix, "lib*", "*-linux-gnu*", name))
    if not libs:
        raise KitError(f"atc would run python3 = {python}, but there is no libpython{version[0]}.{version[1]}.so under "
                       f"{prefix}/lib (a Python built without --enable-shared; E40001); fix: {_fix()}")
    if found["numpy"] and int(found["numpy"].split(".")[0]) >= 2:
        raise KitError(f"atc would run python3 = {python} with numpy {found['numpy']}, but CANN's te needs numpy < 2 "
                       f"(E40020); fix: `{python} -m pip install 'numpy<2'`, or {_fix()}")
    if found["te"]:
        raise KitError(f"`import te, tbe` fails in {python} ({found['te']}), so atc would stop with `E40000: Failed to "
                       "import te.platform.log_util`; fix: source CANN's set_env.sh (ASCEND_SET_ENV: its PYTHONPATH holds "
                       f"te and tbe) and install their dependencies there (`{python} -m pip install {DEPS}`), or {_fix()}")
    return python
