"""Issue 25 §1: the kit starts on the host's Python, whatever it is (the guide's box: CANN 6.0.RC1, Python 3.7.5).

Each real CPython 3.6-3.10 (pyenv) is put first on PATH as `python3` in a copy of the checkout without .venv, so
make's parse-time plan runs on it (3.7+) or on the python3.11+ the Makefile falls back to (3.6). The ais_bench probe
runs in a real 3.7, which has no importlib.metadata, over the stand-ins' dist-infos.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import pipeline_helpers as ph

PYENV = Path(os.environ.get("PYENV_ROOT", "/root/.pyenv")) / "versions"
REAL = {"3.6": "3.6.15", "3.7": "3.7.16", "3.8": "3.8.18", "3.9": "3.9.18", "3.10": "3.10.13"}
CHECK_HOST = ph.ROOT / "env" / "check_host.py"
sys.path.insert(0, str(ph.ROOT / "tools"))
from semask.core import distinfo  # noqa: E402


def real_python(minor: str) -> Path:
    """pyenv's CPython `minor`, or a skip naming what is missing."""
    exe = PYENV / REAL[minor] / "bin" / "python3"
    if not exe.is_file():
        pytest.skip(f"no CPython {REAL[minor]} at {exe} (pyenv install {REAL[minor]})")
    return exe


@pytest.fixture(scope="module")
def fresh_clone(tmp_path_factory) -> Path:
    """The checkout's tracked and new files, no .venv, no .make: what a new user has before `make env`."""
    dst = tmp_path_factory.mktemp("clone") / "kit"
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ph.ROOT, capture_output=True,
                           check=True).stdout.decode().split("\0")
    for name in filter(None, files):
        src = ph.ROOT / name
        if name.startswith((".venv/", ".make/")) or not src.is_file():
            continue
        (dst / name).parent.mkdir(parents=True, exist_ok=True)
        (dst / name).write_bytes(src.read_bytes())
        (dst / name).chmod(src.stat().st_mode & 0o777)
    return dst


def _data_layout(tmp_path: Path) -> str:
    """DATA_ROOT=<the Cityscapes folders, no frames>: the parse-time layout check (issue 26) passes."""
    for sub in ("leftImg8bit/val", "gtFine/val"):
        (tmp_path / "cityscapes" / sub).mkdir(parents=True, exist_ok=True)
    return f"DATA_ROOT={tmp_path / 'cityscapes'}"


def _python3_first(tmp_path: Path, exe: Path) -> str:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python3").symlink_to(exe)
    return f"{bin_dir}:{ph.SYSTEM_PATH}"


@pytest.mark.parametrize("minor", list(REAL))
def test_make_help_and_dry_run_on_host_python(minor, fresh_clone, tmp_path):
    path = _python3_first(tmp_path, real_python(minor))
    env = ph.clean_env({"PATH": path})
    for cmd in (["make", "help"], ["make", "-n", "all", "MODEL=reduced", "WEIGHTS=random", "BS=2", _data_layout(tmp_path)]):
        r = subprocess.run(cmd, cwd=fresh_clone, env=env, capture_output=True, text=True, timeout=300)
        assert r.returncode == 0 and "Traceback" not in r.stderr, f"{cmd} on {minor}:\n{r.stdout[-2000:]}{r.stderr}"
        notes = [ln for ln in r.stderr.splitlines() if ln.startswith("note: python3 is Python")]
        if minor == "3.6":  # the plan needs 3.7+: one line names the interpreter used instead
            [note] = notes
            assert note.startswith(f"note: python3 is Python {REAL[minor]}, older than the 3.7 make's parse-time "
                                   "plan needs; using /"), note
        else:
            assert notes == [], r.stderr
    assert " -m semask report --plan " in r.stdout
    assert not (fresh_clone / ".venv").exists()


def test_python36_with_no_newer_python_is_one_error(fresh_clone, tmp_path):
    exe = real_python("3.6")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python3").symlink_to(exe)
    for tool in ("make", "sh", "bash", "env"):
        (bin_dir / tool).symlink_to(subprocess.run(["sh", "-c", f"command -v {tool}"], capture_output=True,
                                                   text=True).stdout.strip())
    r = subprocess.run(["make", "help"], cwd=fresh_clone, env=ph.clean_env({"PATH": str(bin_dir)}),
                       capture_output=True, text=True, timeout=120)
    errors = [ln for ln in r.stderr.splitlines() if ln.startswith("error:")]
    assert r.returncode == 2 and "Traceback" not in r.stderr and len(errors) == 1, r.stderr
    assert errors[0].startswith(f"error: python3 is Python {REAL['3.6']}, but make's parse-time plan needs Python "
                                ">= 3.7 and there is none of python3.14 python3.13 python3.12 python3.11 on PATH")
    assert "python3.11-dev" in errors[0] and "python3.11-devel" in errors[0]


def test_make_env_on_a_37_only_host_names_the_ways_to_311(fresh_clone, tmp_path):
    exe = real_python("3.7")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python3").symlink_to(exe)
    for tool in ("make", "sh", "bash", "env", "rm", "mv"):
        (bin_dir / tool).symlink_to(subprocess.run(["sh", "-c", f"command -v {tool}"], capture_output=True,
                                                   text=True).stdout.strip())
    r = subprocess.run(["make", "env"], cwd=fresh_clone, env=ph.clean_env({"PATH": str(bin_dir)}),
                       capture_output=True, text=True, timeout=120)
    errors = [ln for ln in r.stderr.splitlines() if ln.startswith("error:")]
    assert r.returncode != 0 and len(errors) == 1 and "Traceback" not in r.stderr, r.stderr
    assert f"found: {bin_dir}/python3 ({REAL['3.7']})" in errors[0]
    for way in ("apt install python3.11 python3.11-venv python3.11-dev", "dnf install python3.11 python3.11-devel",
                "uv python install 3.11", "conda create"):
        assert way in errors[0]
    assert not (fresh_clone / ".venv").exists() and not (fresh_clone / ".venv.partial").exists()


def _probe_on(python: Path, pythonpath: str) -> dict:
    code = ("import json, sys; sys.path.insert(0, 'tools'); from semask.backends.ascend import probe; "
            "r = probe.probe('/opt/set_env.sh', [sys.argv[1], '-m', 'ais_bench']); "
            "print(json.dumps({'ok': r.ok, 'failed': r.failed, 'message': r.message, 'versions': r.versions}))")
    r = subprocess.run([str(ph.VENV_PY), "-c", code, str(python)], cwd=ph.ROOT, capture_output=True, text=True,
                       env=ph.clean_env({"PYTHONPATH": pythonpath}), timeout=120)
    assert r.returncode == 0, r.stderr
    import json
    return json.loads(r.stdout.splitlines()[-1])


def test_probe_in_python37_reads_versions_without_importlib_metadata(tmp_path):
    py37 = real_python("3.7")
    assert subprocess.run([str(py37), "-c", "import importlib.metadata"], capture_output=True).returncode != 0
    # pyenv's 3.7 has no attrs: the probe says so, with a release that installs on 3.7 (pip's choice for 3.7)
    found = _probe_on(py37, str(ph.STANDINS))
    assert found["versions"]["ais_bench"] == "0.0.2" and found["versions"]["aclruntime"] == "0.0.2"
    assert found["failed"] == "attrs" and f"`{py37} -m pip install 'attrs==24.2.0'`" in found["message"]
    stub = tmp_path / "stub"
    stub.mkdir()
    (stub / "attrs.py").write_text("# stands in for the attrs package (a third-party import ais_bench 2024+ makes)\n")
    found = _probe_on(py37, f"{ph.STANDINS}:{stub}")
    assert found["ok"] and found["versions"]["ais_bench_dist"] == "ais_bench", found


def test_dist_info_fallback_matches_the_metadata_files(tmp_path):
    """The fallback (no importlib.metadata) against the stand-ins' METADATA, transcribed: ais_bench 0.0.2."""
    assert distinfo.version("ais-bench", paths=[str(ph.STANDINS)]) == "0.0.2"
    assert distinfo.version("ACLRUNTIME", paths=[str(ph.STANDINS)]) == "0.0.2"
    assert distinfo.version("nothing-here", paths=[str(ph.STANDINS)]) is None
    py37 = real_python("3.7")
    code = distinfo.snippet_prelude() + "\nprint(version('ais_bench'), version('aclruntime'), version('numpy'))\n"
    r = subprocess.run([str(py37), "-c", code], env=ph.clean_env({"PYTHONPATH": str(ph.STANDINS)}),
                       capture_output=True, text=True, timeout=60)
    assert r.stdout.split() == ["0.0.2", "0.0.2", "None"], r.stderr


def test_parse_python_prefers_host_python_then_311(tmp_path):
    py36 = real_python("3.6")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "python3.12"
    fake.write_text("#!/bin/sh\necho 3.12.1\n")
    fake.chmod(0o755)
    r = subprocess.run([str(py36), str(CHECK_HOST), "parse-python"], env={"PATH": str(bin_dir)},
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stdout.strip() == str(fake), r.stderr
    assert r.stderr == (f"note: python3 is Python {REAL['3.6']}, older than the 3.7 make's parse-time plan needs; "
                        f"using {fake} (3.12.1) for it\n")
    py38 = real_python("3.8")
    r = subprocess.run([str(py36), str(CHECK_HOST), "parse-python", "--python", str(py38)],
                       env={"PATH": str(bin_dir)}, capture_output=True, text=True, timeout=60)
    assert r.stdout.strip() == str(py38) and "(3.8.18)" in r.stderr
    r = subprocess.run([str(real_python("3.7")), str(CHECK_HOST), "parse-python"], env={"PATH": str(bin_dir)},
                       capture_output=True, text=True, timeout=60)
    assert (r.returncode, r.stdout, r.stderr) == (0, "python3\n", "")


def test_ascend_parse_time_checks_on_python37(fresh_clone, tmp_path):
    """BACKEND=ascend's parse-time work (probe, atc's Python, npu-smi, /dev/davinci) on a 3.7 `python3`, with a
    failing npu-smi and an explicit SOC: one warning, no traceback."""
    path = _python3_first(tmp_path, real_python("3.7"))
    env = ph.clean_env({"PATH": f"{ph.STANDINS / 'bin'}:{path}", "STANDIN_PYTHON": str(ph.VENV_PY),
                        "PYTHONPATH": f"{ph.STANDINS}:{ph.CANN_SITE}", "AIS_BENCH": f"{ph.VENV_PY} -m ais_bench",
                        "ATC_PYTHON": ph.cann_python(), "STANDIN_NPU_SMI_FAIL": "1",
                        "ASCEND_SET_ENV": str(ph.harmless_set_env(tmp_path))})
    r = subprocess.run(["make", "-n", "all", "MODEL=reduced", "WEIGHTS=random", "BACKEND=ascend", f"SOC={ph.SOC}",
                        _data_layout(tmp_path)],
                       cwd=fresh_clone, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    [warning] = [ln for ln in r.stderr.splitlines() if ln.startswith("warning:")]
    assert "dcmi module initialize failed. ret is -8005" in warning
    assert " build --plan " in r.stdout
