"""Issue 20: `make env` on the host's own Python (HOST_PYTHON, the 3.14 ... 3.11 search) and the host checks that
run before pip (glibc >= 2.28 for the manylinux_2_28 pins, x86_64/aarch64, ~3 GB free).

`make env` runs in a temporary copy of the checkout (Makefile, env/, tools/), never next to the real .venv, and
always fails before a venv would be created: no test builds a venv.
"""
import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import pipeline_helpers as ph

CHECK_HOST = ph.ROOT / "env" / "check_host.py"


def _fake_python(folder: Path, name: str, version: str) -> Path:
    """An 'interpreter' that reports `version` to whatever it is asked."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(f"#!/bin/sh\necho {version}\n")
    path.chmod(0o755)
    return path


@pytest.fixture
def checkout(tmp_path):
    """A copy of what `make env` reads, without .venv."""
    dst = tmp_path / "kit"
    dst.mkdir()
    shutil.copy2(ph.ROOT / "Makefile", dst / "Makefile")
    shutil.copy2(ph.ROOT / "pyproject.toml", dst / "pyproject.toml")
    shutil.copytree(ph.ROOT / "env", dst / "env", ignore=shutil.ignore_patterns("venv", "__pycache__"))
    shutil.copytree(ph.ROOT / "tools", dst / "tools", ignore=shutil.ignore_patterns("__pycache__"))
    return dst


def _make_env(checkout: Path, variables: dict, extra_env: dict | None = None) -> subprocess.CompletedProcess:
    cmd = ["make", "env", *(f"{k}={v}" for k, v in variables.items())]
    return subprocess.run(cmd, cwd=checkout, env=ph.clean_env(extra_env), capture_output=True, text=True, timeout=120)


def test_check_host_is_python36_syntax():
    ast.parse(CHECK_HOST.read_text(), feature_version=(3, 6))


def test_make_env_refuses_an_old_host_python_and_leaves_no_venv(checkout, tmp_path):
    fake = _fake_python(tmp_path / "bin", "python3.9", "3.9.18")
    r = _make_env(checkout, {"HOST_PYTHON": str(fake)})
    errors = [ln for ln in r.stderr.splitlines() if ln.startswith("error:")]
    assert r.returncode != 0 and len(errors) == 1, r.stdout + r.stderr
    assert errors[0].startswith(f"error: HOST_PYTHON={fake} is Python 3.9.18, but the kit's pins need Python >= 3.11")
    assert '`uv python install 3.11` and then `make env HOST_PYTHON="$(uv python find 3.11)"`' in errors[0]
    assert "conda" in errors[0] and "distribution's package" in errors[0]
    assert not (checkout / ".venv").exists() and not (checkout / ".venv.partial").exists()


def test_simulated_glibc_227_is_refused_before_pip(checkout):
    r = _make_env(checkout, {"HOST_PYTHON": sys.executable}, {"SEMASK_HOST_GLIBC": "2.27"})
    errors = [ln for ln in r.stderr.splitlines() if ln.startswith("error:")]
    assert r.returncode != 0 and len(errors) == 1, r.stdout + r.stderr
    assert errors[0].startswith("error: this host has glibc 2.27, but the pinned wheels torch 2.13.0, onnxruntime 1.31.1 "
                                "are manylinux_2_28 and need glibc >= 2.28")
    assert "creating .venv" not in r.stdout and "pip" not in r.stdout
    assert not (checkout / ".venv").exists() and not (checkout / ".venv.partial").exists()


def test_no_python_311_on_path_lists_what_was_found(tmp_path):
    bin_dir = tmp_path / "bin"
    old = _fake_python(bin_dir, "python3", "3.9.18")
    older = _fake_python(bin_dir, "python3.10", "3.10.12")
    r = subprocess.run([sys.executable, str(CHECK_HOST), "check"], env={"PATH": str(bin_dir)}, capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 2 and r.stdout == ""
    [line] = r.stderr.splitlines()
    assert line.startswith("error: no Python >= 3.11 on PATH for .venv (looked for python3.14 python3.13 python3.12 "
                           f"python3.11 python3); found: {older} (3.10.12), {old} (3.9.18); ways to get Python 3.11")


def test_first_new_enough_interpreter_wins(tmp_path):
    bin_dir = tmp_path / "bin"
    _fake_python(bin_dir, "python3.13", "3.13.1")
    _fake_python(bin_dir, "python3.12", "3.12.0")
    _fake_python(bin_dir, "python3", "3.11.2")
    r = subprocess.run([sys.executable, str(CHECK_HOST), "check"], env={"PATH": str(bin_dir)}, capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0 and r.stdout.strip() == str(bin_dir / "python3.13"), r.stderr


@pytest.mark.parametrize("hook, needle", [
    ({"SEMASK_HOST_MACHINE": "armv7l"}, "error: this host's machine is armv7l; the kit's pinned wheels exist for "
                                        "x86_64 and aarch64 only"),
    ({"SEMASK_HOST_FREE_BYTES": "1000000000"}, "error: 1.0 GB free under"),
])
def test_machine_and_disk_are_checked(hook, needle):
    r = subprocess.run([sys.executable, str(CHECK_HOST), "check", "--python", sys.executable],
                       env={**os.environ, **hook}, capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and r.stderr.startswith(needle), r.stderr


def test_relocate_rewrites_the_build_path(tmp_path):
    built = tmp_path / ".venv.partial"
    (built / "bin").mkdir(parents=True)
    (built / "bin" / "activate").write_text(f'VIRTUAL_ENV="{built}"\n')
    (built / "bin" / "pip").write_text(f"#!{built}/bin/python\nimport pip\n")
    (built / "bin" / "python").symlink_to(sys.executable)
    (built / "pyvenv.cfg").write_text(f"home = /usr/bin\ncommand = /usr/bin/python3 -m venv {built}\n")
    r = subprocess.run([sys.executable, str(CHECK_HOST), "relocate", "--venv", str(built), "--to",
                        str(tmp_path / ".venv")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    final = tmp_path / ".venv"
    assert (built / "bin" / "activate").read_text() == f'VIRTUAL_ENV="{final}"\n'
    assert (built / "bin" / "pip").read_text().startswith(f"#!{final}/bin/python\n")
    assert (built / "pyvenv.cfg").read_text().endswith(f"-m venv {final}\n")
    assert os.readlink(built / "bin" / "python") == sys.executable
