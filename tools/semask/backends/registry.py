"""Choose the inference backend: Ascend (atc + ais_bench) when usable, else ONNX Runtime; OpenVINO
(CPU) only when asked for by name (BACKEND=openvino; BACKEND=auto never picks it).

Why: one Makefile serves Ascend hosts and plain machines; BACKEND=auto must pick the right
path and say why, and BACKEND=ascend on a machine that cannot run it must fail with the fix.
Both run the deeper probe (semask.backends.ascend.probe) at parse time, before any export or compile.
"""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from semask.backends.ascend.toolchain import ais_bench_command
from semask.backends.ascend.atc_python import check_atc_python
from semask.backends.ascend.probe import probe
from semask.backends.ascend.set_env import applied, default_set_env, source_set_env  # noqa: F401 (re-exported)
from semask.spec import BACKENDS  # noqa: F401 (BACKENDS re-exported)
from semask.core.errors import KitError, not_one_of
from semask.backends.base import Backend



def ais_bench_works() -> bool:
    """`<ais_bench> --help` exits 0 (the package and its aclruntime import)."""
    try:
        proc = subprocess.run([*ais_bench_command(), "--help"], capture_output=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return proc.returncode == 0


def select_backend(requested: str = "auto", set_env: str | None = None, atc_python: str | None = None) -> tuple[str, str]:
    """('ascend' | 'ort' | 'openvino', reason). BACKEND=ascend that cannot work is a KitError with the fix.

    An existing ASCEND_SET_ENV is sourced first (semask.backends.ascend.set_env), and the checks run in the
    environment it gives; when it exits non-zero, BACKEND=auto falls back to ONNX Runtime and says why,
    and BACKEND=ascend is refused naming the script and its exit code. `atc_python` is ATC_PYTHON (else the
    environment's), the interpreter atc's op compiler is checked with.
    """
    atc_python = atc_python or os.environ.get("ATC_PYTHON") or None
    set_env = set_env or default_set_env()
    if requested not in BACKENDS:
        raise KitError(not_one_of("BACKEND", requested, BACKENDS))
    if requested == "ort":
        return "ort", "BACKEND=ort: using ONNX Runtime"
    if requested == "openvino":  # the package is checked where it is imported (the venv may not exist yet)
        return "openvino", "BACKEND=openvino: using OpenVINO on the CPU"
    if not Path(set_env).is_file():
        return _select(requested, set_env, atc_python)
    sourced = source_set_env(set_env)
    if not sourced.ok:
        if requested == "ascend":
            raise KitError(f"BACKEND=ascend but {sourced.failure()}; fix the script or point ASCEND_SET_ENV at the "
                           "CANN toolkit's set_env.sh, or use BACKEND=ort")
        return "ort", (f"BACKEND=auto: {sourced.failure()}, so CANN cannot be used; using ONNX Runtime "
                       "(fix the script, or pass BACKEND=ort)")
    with applied(sourced.env):
        return _select(requested, set_env, atc_python)


def atc_python_problem(atc_python: str | None, strict: bool) -> str | None:
    """Why atc's op compiler cannot use the python3 it will find (ATC_PYTHON's, else PATH's), or None;
    strict: a KitError naming BACKEND=ascend instead."""
    from semask.backends.ascend.toolchain import cann_version

    try:
        check_atc_python(os.environ, atc_python, cann_version())
    except KitError as exc:
        if strict:
            raise KitError(f"BACKEND=ascend but {exc}") from None
        return str(exc)
    return None


def _select(requested: str, set_env: str, atc_python: str | None) -> tuple[str, str]:
    """select_backend's checks, in the environment ASCEND_SET_ENV gave (when it exists)."""
    atc = shutil.which("atc")
    if requested == "ascend":
        if atc is None:
            raise KitError(f"BACKEND=ascend but atc is not on PATH; run `source {set_env}` (CANN toolkit, "
                           "ASCEND_SET_ENV) in this shell first, or use BACKEND=ort")
        found = probe(set_env)
        if not found.ok:
            raise KitError(f"BACKEND=ascend but the ais_bench check '{found.failed}' failed: {found.message}; "
                           "or use BACKEND=ort")
        if not ais_bench_works():
            raise KitError(f"BACKEND=ascend but `{' '.join(ais_bench_command())} --help` fails; install ais_bench + "
                           "aclruntime with env/install_ascend_extras.sh (after sourcing set_env.sh), or use BACKEND=ort")
        atc_python_problem(atc_python, strict=True)
        return "ascend", f"BACKEND=ascend: atc at {atc}, ais_bench works ({found.version_line()})"
    if not Path(set_env).is_file():
        return "ort", f"BACKEND=auto: no CANN set_env.sh at {set_env}, using ONNX Runtime"
    if atc is None:
        return "ort", (f"BACKEND=auto: {set_env} exists but atc is not on PATH (run `source {set_env}` to use Ascend), "
                       "using ONNX Runtime")
    found = probe(set_env)
    if not found.ok:
        return "ort", (f"BACKEND=auto: CANN and atc found but the ais_bench check '{found.failed}' failed: "
                       f"{found.message}; using ONNX Runtime")
    if not ais_bench_works():
        return "ort", ("BACKEND=auto: CANN and atc found but ais_bench does not run (install it with "
                       "env/install_ascend_extras.sh), using ONNX Runtime")
    problem = atc_python_problem(atc_python, strict=False)
    if problem:
        return "ort", f"BACKEND=auto: CANN, atc and ais_bench found but {problem}; using ONNX Runtime"
    return "ascend", (f"BACKEND=auto: CANN set_env.sh at {set_env}, atc at {atc} and ais_bench found "
                      f"({found.version_line()}), using Ascend")


def backend_for(name: str) -> "Backend":
    """The Backend of a resolved BACKEND ('ort', 'openvino', 'ascend'): the one place that maps the name."""
    from semask.backends.ascend.backend import AscendBackend
    from semask.backends.openvino.backend import OpenvinoBackend
    from semask.backends.ort.backend import OrtBackend

    table = {"ort": OrtBackend, "openvino": OpenvinoBackend, "ascend": AscendBackend}
    if name not in table:
        raise KitError(f"BACKEND={name} is not one of: {' '.join(table)}")
    return table[name]()
