"""Issue 25 §2: aclruntime's pre-flight and source choice (env/ascend_source.py, env/install_ascend_extras.sh).

Fake CANN trees of the 6.0, 7.x and 8.x layouts. The expected verdicts are what the real `get_cann_path()` of both
refs gave by hand against the same trees (Ascend/tools 9d6da90 and gitee !1523 @ 8da7f64, fetched, not committed;
CANN_PATH set to the tree): 2023-06 accepts 6.0 and 7.x, refuses 8.x ("error find no cann path"); 2025-12 refuses
6.0 ("Fail to find cann path"), accepts 7.x (runtime/lib64/stub/<arch>/) and 8.x (<arch>-linux/lib64/). The kit
also needs aclrtSetDeviceSatMode in the headers for the 2025-12 ref, which 6.0.RC1's lack.
"""
from __future__ import annotations

import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest

import pipeline_helpers as ph

sys.path.insert(0, str(ph.ROOT / "env"))
import ascend_source  # noqa: E402

ARCH = platform.machine()
SAT = "aclError aclrtSetDeviceSatMode(aclrtFloatOverflowMode mode);\n"
SCRIPT = ph.ROOT / "env" / "install_ascend_extras.sh"


def _touch(root: Path, rel: str, text: str = "") -> None:
    (root / rel).parent.mkdir(parents=True, exist_ok=True)
    (root / rel).write_text(text)


def cann_tree(root: Path, kind: str) -> Path:
    if kind == "6.0":
        _touch(root, "runtime/lib64/stub/libascendcl.so")
        _touch(root, "runtime/include/acl/acl_rt.h", "aclError aclrtSetDevice(int32_t deviceId);\n")
    elif kind == "7.x":
        _touch(root, "runtime/lib64/stub/libascendcl.so")
        _touch(root, f"runtime/lib64/stub/{ARCH}/libascendcl.so")
        _touch(root, "runtime/include/acl/acl_rt.h", SAT)
    elif kind == "8.x":
        _touch(root, f"{ARCH}-linux/lib64/libascendcl.so")
        _touch(root, f"{ARCH}-linux/include/acl/acl_rt.h", SAT)
    elif kind == "6.0.1-no-sat":  # the 2025 layout without the function: its compile would fail
        _touch(root, f"runtime/lib64/stub/{ARCH}/libascendcl.so")
        _touch(root, "runtime/include/acl/acl_rt.h", "aclError aclrtSetDevice(int32_t deviceId);\n")
    return root


def _choose(root: Path, source: str = "auto"):
    return ascend_source.choose({"ASCEND_TOOLKIT_HOME": str(root)}, ARCH, source, [], [])


@pytest.mark.parametrize("kind, chosen", [("6.0", "mirror2023"), ("7.x", "maintained"), ("8.x", "maintained")])
def test_choice_per_layout(kind, chosen, tmp_path):
    root = cann_tree(tmp_path / kind, kind)
    source, base, reason = _choose(root)
    assert (source, base) == (chosen, str(root))
    if kind == "6.0":
        assert reason.startswith(f"the 2023-06 mirror's get_cann_path() accepts {root} ") and "does not fit: no " \
            f"runtime/lib64/stub/{ARCH}/ + runtime/include/ nor {ARCH}-linux/lib64/" in reason


def test_refusals_name_what_each_ref_needs(tmp_path):
    with pytest.raises(ValueError, match=r"^AIS_BENCH_SOURCE=maintained \(the 2025-12 ref\) cannot build against "
                                         r"this CANN: the ACL headers under .* do not declare aclrtSetDeviceSatMode"):
        _choose(cann_tree(tmp_path / "a", "6.0.1-no-sat"), "maintained")
    with pytest.raises(ValueError, match=r"^neither aclruntime source fits this CANN: .*the 2023-06 mirror needs "
                                         r"runtime/lib64/stub/libascendcl.so \(no runtime/lib64/stub/libascendcl.so"):
        _choose(cann_tree(tmp_path / "b", "8.x"), "mirror2023")
    with pytest.raises(ValueError, match="neither aclruntime source fits"):
        _choose(tmp_path / "empty")


def test_local_clone_generation(tmp_path):
    for text, generation in (('"runtime/lib64/stub/libascendcl.so"', "mirror2023"),
                             ('{"lib": "x86_64-linux/lib64/", "include": "x86_64-linux/include/"}', "maintained")):
        _touch(tmp_path / generation, "ais-bench_workload/tool/ais_bench/backend/setup.py", text)
        assert ascend_source.local_generation(str(tmp_path / generation)) == generation


def test_preflight_names_each_missing_need(tmp_path):
    empty = tmp_path / "bin"
    empty.mkdir()
    problems = ascend_source.preflight({"PATH": str(empty)}, python_h=str(tmp_path / "Python.h"))
    assert len(problems) == 3
    assert "has no Python.h" in problems[0] and "-dev`" in problems[0] and "-devel`" in problems[0]
    assert problems[1].startswith("no g++ on PATH") and problems[2].startswith("no git on PATH")
    assert ascend_source.preflight({"PATH": ph.SYSTEM_PATH}) == []


def _installer(env_extra: dict) -> subprocess.CompletedProcess:
    env = {**ph.clean_env(), "AIS_INSTALL_DRY_RUN": "1", "PYTHON": str(ph.VENV_PY), **env_extra}
    return subprocess.run(["bash", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=120)


def test_installer_picks_the_ref_for_the_installed_cann(tmp_path):
    old = _installer({"ASCEND_TOOLKIT_HOME": str(cann_tree(tmp_path / "60", "6.0"))})
    assert old.returncode == 0, old.stderr
    assert "aclruntime source: mirror2023 (the 2023-06 mirror's get_cann_path() accepts" in old.stdout
    assert ("--no-build-isolation git+https://github.com/Ascend/tools.git@9d6da90#egg=aclruntime"
            "&subdirectory=ais-bench_workload/tool/ais_bench/backend") in old.stdout
    new = _installer({"ASCEND_TOOLKIT_HOME": str(cann_tree(tmp_path / "8x", "8.x"))})
    assert "--no-build-isolation git+https://gitee.com/ascend/tools.git@8da7f6455bb122ca38b50e625fb7751c7e190ed1" \
           "#egg=aclruntime" in new.stdout
    bad = _installer({"ASCEND_TOOLKIT_HOME": str(tmp_path / "nothing")})
    assert bad.returncode == 2 and bad.stderr.startswith("error: neither aclruntime source fits this CANN")
    clone = tmp_path / "clone"
    _touch(clone, "ais-bench_workload/tool/ais_bench/backend/setup.py", '"x86_64-linux/lib64/"')
    local = _installer({"ASCEND_TOOLKIT_HOME": str(cann_tree(tmp_path / "7x", "7.x")), "AIS_BENCH_SOURCE": str(clone)})
    assert f"--no-build-isolation {clone}/ais-bench_workload/tool/ais_bench/backend" in local.stdout
    wheels = _installer({"AIS_BENCH_SOURCE": "wheels", "AIS_BENCH_WHEELS": "/w/a.whl /w/b.whl"})
    assert "--no-build-isolation /w/a.whl /w/b.whl" in wheels.stdout
    nope = _installer({"AIS_BENCH_SOURCE": "pypi", "ASCEND_TOOLKIT_HOME": str(tmp_path)})
    assert nope.returncode == 2 and "auto (default), maintained, mirror2023, wheels, or a local clone" in nope.stderr


def test_build_pins_install_on_cann_python():
    py37 = Path("/root/.pyenv/versions/3.7.16/bin/python3")
    if not py37.is_file():
        pytest.skip("no CPython 3.7")
    r = subprocess.run([str(py37), str(ph.ROOT / "env" / "ascend_source.py"), "pins"], capture_output=True, text=True)
    assert r.stdout.split() == ["setuptools==68.0.0", "attrs==24.2.0", "wheel==0.42.0", "pybind11==2.13.6"]
    assert os.path.isfile(ph.ROOT / "env" / "ascend_source.py")
