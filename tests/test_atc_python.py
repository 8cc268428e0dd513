"""Issue 25 §3: atc runs with CANN's Python, never the kit's venv.

The atc stand-in does what ATC's te_fusion does with the `python3` on PATH (python3-config --prefix, libpython, import
te/tbe); its stand-in te imports only in Python 3.7-3.9 without numpy 2 (tests/standins/cann_site). The kit checks
the same interpreter before the export and puts ATC_PYTHON's folder first on PATH for atc alone.
"""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

import pipeline_helpers as ph
from semask.backends.ascend.atc_python import atc_environ, check_atc_python, supported_range
from semask.core.errors import KitError

VENV_BIN = str(ph.VENV_PY.parent)


def _env(path_first: str, **extra: str) -> dict[str, str]:
    return ph.clean_env({"PATH": f"{path_first}:{ph.SYSTEM_PATH}", "PYTHONPATH": str(ph.CANN_SITE), **extra})


def test_venv_first_on_path_is_one_line_naming_it():
    with pytest.raises(KitError) as err:
        check_atc_python(_env(VENV_BIN))
    msg = str(err.value)
    assert msg.startswith(f"atc would run python3 = {VENV_BIN}/python3, inside the virtual environment "
                          f"{ph.VENV_PY.parent.parent}"), msg
    assert "`deactivate`" in msg and "ATC_PYTHON=/usr/local/python3.7.5/bin/python3" in msg and "\n" not in msg


def test_activated_venv_variable_is_refused():
    cann = ph.cann_python()
    with pytest.raises(KitError, match=r"^VIRTUAL_ENV=/some/venv is set \(an activated venv\)"):
        check_atc_python(_env(str(Path(cann).parent), VIRTUAL_ENV="/some/venv"))


def test_atc_python_goes_first_and_passes():
    cann = ph.cann_python()
    env = _env(VENV_BIN, VIRTUAL_ENV=str(ph.VENV_PY.parent.parent))
    assert check_atc_python(env, cann, "6.0.RC1") == str(Path(cann).parent / "python3")
    shown = atc_environ(env, cann)
    assert shown["PATH"].split(":")[0] == str(Path(cann).parent) and "VIRTUAL_ENV" not in shown


def test_a_python_cann_does_not_support_and_missing_te():
    py310 = Path("/root/.pyenv/versions/3.10.13/bin/python3")
    if not py310.is_file():
        pytest.skip(f"no CPython 3.10 at {py310}")
    with pytest.raises(KitError, match=r"\(Python 3\.10\.13\), but CANN 6\.0\.RC1 supports Python 3\.7-3\.9"):
        check_atc_python(_env(str(py310.parent)), None, "6.0.RC1")
    with pytest.raises(KitError, match=r"^`import te, tbe` fails in .*te \(stand-in\) supports Python 3\.7-3\.9"):
        check_atc_python(_env(str(py310.parent)), None, "8.0.0")  # 8.0.0 supports 3.10, the stand-in te does not
    cann = ph.cann_python()
    with pytest.raises(KitError, match=r"^`import te, tbe` fails in .*ModuleNotFoundError.*source CANN's set_env.sh"):
        check_atc_python(ph.clean_env({"PATH": f"{Path(cann).parent}:{ph.SYSTEM_PATH}"}), None, "6.0.RC1")
    assert supported_range("6.0.RC1") == ((3, 7), (3, 9)) and supported_range("8.0.0") == ((3, 7), (3, 11))
    assert supported_range("8.5.0") == ((3, 7), (3, 13)) and supported_range(None) == ((3, 7), None)


def test_the_atc_standin_itself_catches_a_venv_python3(tmp_path):
    """Bypassing the kit: the stand-in fails the way atc does (E40000) when the venv's python3 comes first."""
    onnx = tmp_path / "m.onnx"
    onnx.write_bytes(b"")
    argv = [str(ph.STANDINS / "bin" / "atc"), "--framework=5", f"--model={onnx}", f"--output={tmp_path / 'm'}",
            "--soc_version=Ascend310P3"]
    r = subprocess.run(argv, env=_env(VENV_BIN, STANDIN_PYTHON=str(ph.VENV_PY)), capture_output=True, text=True,
                       cwd=tmp_path, timeout=120)
    assert r.returncode == 1 and "E40001: Failed to get the python lib path" in r.stdout, r.stdout + r.stderr


def test_make_refuses_a_venv_python3_before_the_export(tmp_path):
    """BACKEND=ascend with .venv/bin first on PATH: one line at parse time; ATC_PYTHON clears it."""
    env = ph.ascend_env(tmp_path / "log", ph.harmless_set_env(tmp_path))
    cann = env.pop("ATC_PYTHON")
    env["PATH"] = f"{VENV_BIN}:{env['PATH']}"
    variables = {**ph.CONFIG, "BACKEND": "ascend", "SOC": ph.SOC}
    r = ph.run_make(["om"], tmp_path / "arts", None, variables, env=env, flags=["-n"], check=False)
    errors = ph.parse_errors(r)
    assert r.returncode == 2 and len(errors) == 1, r.stderr
    assert errors[0].startswith(f"error: BACKEND=ascend but atc would run python3 = {VENV_BIN}/python3, inside the "
                                "virtual environment"), errors[0]
    r = ph.run_make(["om"], tmp_path / "arts", None, {**variables, "ATC_PYTHON": cann}, env=env, flags=["-n"])
    assert r.returncode == 0 and " build --plan " in r.stdout  # the build step reads ATC_PYTHON from the plan


def _atc_calls(log: Path) -> int:
    import json

    lines = log.read_text().splitlines() if log.exists() else []
    return sum(json.loads(line)["tool"] == "atc" for line in lines)


def test_compile_with_venv_first_refused_before_atc_then_compiles_with_atc_python(standin_log, tmp_path, monkeypatch):
    import sys

    sys.path.insert(0, str(ph.STANDINS))
    import tiny_onnx
    from semask.backends.ascend import toolchain

    model = tiny_onnx.make_model(tmp_path / "tiny_bs1.onnx", 1)
    cann = os.environ["ATC_PYTHON"]
    monkeypatch.delenv("ATC_PYTHON")
    monkeypatch.setenv("PATH", f"{VENV_BIN}:{os.environ['PATH']}")
    om = tmp_path / "om" / "tiny_bs1.om"
    args = (model, om, 1, tiny_onnx.H, tiny_onnx.W, ph.SOC, "force_fp16")
    with pytest.raises(KitError, match=r"^atc would run python3 = .*/\.venv/bin/python3, inside the virtual"):
        toolchain.compile_om(toolchain.AtcJob(*args))
    assert _atc_calls(standin_log) == 0 and not om.exists()
    info = toolchain.compile_om(toolchain.AtcJob(*args, atc_python=cann))
    assert om.is_file() and info["batch_size"] == 1 and _atc_calls(standin_log) == 2  # the compile, then --mode=1
