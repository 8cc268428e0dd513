"""Environment check JSON and backend selection (auto -> ort here, -> ascend with stand-ins)."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import pipeline_helpers as ph

from semask.core import packages
from semask.backends.registry import select_backend
from semask.core.errors import KitError

STANDINS = Path(__file__).parent / "standins"


def _env(tmp_path, with_standins):
    env = dict(os.environ)
    env.pop("AIS_BENCH", None)
    env["ASCEND_SET_ENV"] = str(tmp_path / "set_env.sh")
    if with_standins:
        env["PATH"] = f"{STANDINS / 'bin'}:{env['PATH']}"
        env["PYTHONPATH"] = f"{STANDINS}:{STANDINS / 'cann_site'}"
        env["STANDIN_PYTHON"] = sys.executable
        env["ATC_PYTHON"] = ph.cann_python()
    return env


def _select(root, env, *args):
    return subprocess.run([sys.executable, str(root / "tools" / "select_backend.py"), *args],
                          capture_output=True, text=True, env=env)


def test_select_auto_ort_without_cann(root, tmp_path):
    r = _select(root, _env(tmp_path, False), "--set-env", str(tmp_path / "nope" / "set_env.sh"))
    assert r.returncode == 0 and r.stdout == "ort\n"
    assert f"BACKEND=auto: no CANN set_env.sh at {tmp_path / 'nope' / 'set_env.sh'}, using ONNX Runtime" in r.stderr


def test_select_auto_ascend_with_standins(root, tmp_path):
    (tmp_path / "set_env.sh").write_text("# fake CANN env\n")
    r = _select(root, _env(tmp_path, True))
    assert r.returncode == 0, r.stderr
    assert r.stdout == "ascend\n" and "using Ascend" in r.stderr


def test_select_auto_set_env_without_atc(root, tmp_path, monkeypatch):
    (tmp_path / "set_env.sh").write_text("")
    monkeypatch.setenv("PATH", str(tmp_path))
    backend, why = select_backend("auto", str(tmp_path / "set_env.sh"))
    assert backend == "ort" and "atc is not on PATH" in why and "source" in why


def test_select_ascend_without_atc_is_error(root, tmp_path):
    r = _select(root, _env(tmp_path, False), "--backend", "ascend")
    if "ascend" in r.stdout:
        pytest.skip("real atc on PATH")
    assert r.returncode == 2 and "set_env.sh" in r.stderr and "BACKEND=ascend" in r.stderr


def test_select_ascend_without_ais_bench(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", f"{STANDINS / 'bin'}:{os.environ['PATH']}")
    monkeypatch.setenv("AIS_BENCH", f"{sys.executable} -m no_such_ais_bench_module")
    with pytest.raises(KitError, match="install_ascend_extras.sh"):
        select_backend("ascend", str(tmp_path / "set_env.sh"))


def test_check_env_json(root, tmp_path):
    out = tmp_path / "env" / "e.json"
    env = _env(tmp_path, True)
    env["STANDIN_NPU_CHIP"] = "310P3"
    r = subprocess.run([sys.executable, str(root / "tools" / "check_env.py"), "--out", str(out), "--need", "all"],
                       capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr
    rec = json.loads(out.read_text())
    for name in ("numpy", "torch", "onnx", "onnxsim", "onnxruntime", "opencv", "cityscapesscripts"):
        assert rec["packages"][name]["version"], name
    assert "CPUExecutionProvider" in rec["onnxruntime_providers"]
    assert rec["python"]["version"].startswith("3.")
    assert rec["ascend"]["chips"] == ["310P3"] and rec["ascend"]["driver_version"] == "23.0.rc3"
    assert rec["ascend"]["cann_version"] == "7.0.0.standin"  # from the stand-in `atc --version`


def test_check_env_missing_packages_names_fix(root, tmp_path):
    # -S hides site-packages: every third-party package is missing
    r = subprocess.run([sys.executable, "-S", str(root / "tools" / "check_env.py"), "--out", str(tmp_path / "e.json"),
                        "--need", "export"], capture_output=True, text=True)
    assert r.returncode == 2 and "torch" in r.stderr and "make env" in r.stderr
    assert "cityscapesscripts" not in r.stderr  # not needed for export
    assert not (tmp_path / "e.json").exists()


def test_cann_version_from_toolkit_home(tmp_path):
    (tmp_path / "x86_64-linux").mkdir()
    (tmp_path / "x86_64-linux" / "ascend_toolkit_install.info").write_text("package_name=Ascend-cann-toolkit\nversion=8.0.RC2\n")
    from semask.backends.ascend.toolchain import cann_version

    assert cann_version({"ASCEND_TOOLKIT_HOME": str(tmp_path)}) == "8.0.RC2"
    (tmp_path / "version.cfg").write_text("# comment\ntoolkit_running_version=[7.0.0.5.242:7.0.0]\n")
    assert cann_version({"ASCEND_TOOLKIT_HOME": str(tmp_path)}) == "7.0.0.5.242"


def test_missing_for_needs():
    pk = packages.package_versions()
    assert packages.missing_for("all", pk) == []
    pk["torch"] = dict(pk["torch"], version=None)
    assert packages.missing_for("export", pk) == ["torch"] and packages.missing_for("infer", pk) == []
