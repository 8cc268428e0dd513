"""Issue 10: the Ascend path against the real toolchain's rules, through the updated stand-ins.

ais_bench eras (path rules, modes, pkg_resources), the deeper backend probe, the knobs (PRECISION,
PRECISION_V2, OP_SELECT_IMPLMODE, SOC, DEVICE), the ATC-friendly graph, `atc --mode=1` placement and
`make atc-check`, the parse-time ARTIFACTS refusal and the installer's sources.
"""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import pipeline_helpers as ph

STANDINS = Path(__file__).parent / "standins"
FIXTURES = Path(__file__).parent / "fixtures"
sys.path.insert(0, str(STANDINS))
import tiny_onnx  # noqa: E402

from semask.core.errors import KitError  # noqa: E402
from semask.backends.ascend import toolchain as ascend, knobs as ascend_knobs, atc_report  # noqa: E402
from semask.backends.registry import select_backend  # noqa: E402

PERMISSION_MESSAGE = "permission should not be over 0o750"


@pytest.fixture
def standins(standin_log):
    return standin_log


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    d = tmp_path_factory.mktemp("tiny")
    return tiny_onnx.make_model(d / "tiny_bs4.onnx", 4)


def _ais(args, env_extra=None, cwd=None):
    env = {**os.environ, "PYTHONPATH": str(STANDINS), **(env_extra or {})}
    return subprocess.run([sys.executable, "-m", "ais_bench", *args], capture_output=True, text=True, env=env, cwd=cwd)


# ------------------------------------------------------------------ the stand-in holds the newest rules
def test_standin_refuses_loose_output_folder_like_the_newest_ais_bench(tiny, standins, tmp_path):
    om = tmp_path / "om" / "tiny_bs4.om"
    ascend.compile_om(ascend.AtcJob(tiny, om, 4, tiny_onnx.H, tiny_onnx.W, "Ascend310P3"))
    loose = tmp_path / "loose"
    loose.mkdir(mode=0o755)
    os.chmod(loose, 0o755)  # what `mkdir -p` gives under umask 022
    r = _ais(["--model", str(om), "--output", str(loose), "--loop", "1"])
    assert r.returncode == 2 and PERMISSION_MESSAGE in r.stdout + r.stderr
    os.chmod(loose, 0o750)
    assert _ais(["--model", str(om), "--output", str(loose), "--loop", "1"]).returncode == 0
    # the 2023 release had no such rule
    os.chmod(loose, 0o775)
    assert _ais(["--model", str(om), "--output", str(loose), "--loop", "1"], {"STANDIN_AIS_ERA": "2023-06"}).returncode == 0


def test_standin_refuses_symlinks_and_writable_inputs(tiny, standins, tmp_path):
    om = tmp_path / "tiny_bs4.om"
    ascend.compile_om(ascend.AtcJob(tiny, om, 4, tiny_onnx.H, tiny_onnx.W, "Ascend310P3"))
    link = tmp_path / "link.om"
    link.symlink_to(om)
    r = _ais(["--model", str(link), "--loop", "1"])
    assert r.returncode == 2 and "soft link" in r.stdout
    bins = tiny_onnx.make_bins(tmp_path / "bins", ["a.bin", "b.bin", "c.bin", "d.bin"])
    os.chmod(bins[1], 0o666)
    out = tmp_path / "out"
    out.mkdir(mode=0o750)
    r = _ais(["--model", str(om), "--input", str(bins[0].parent), "--output", str(out), "--output_dirname", "x"])
    assert r.returncode != 0 and "group writable, or is others writable, as import file" in r.stdout + r.stderr


def test_kit_passes_the_newest_rules_from_a_loose_tree(tiny, standins, tmp_path):
    """Loose folders and files (umask 002) and a symlinked path: the kit resolves and tightens them first."""
    old = os.umask(0o002)
    try:
        bins = tiny_onnx.make_bins(tmp_path / "real" / "bins", ["a_1.bin", "a_2.bin", "a_3.bin"])
        for b in bins:
            os.chmod(b, 0o664)
        (tmp_path / "preds").mkdir(mode=0o775)
        os.chmod(tmp_path / "preds", 0o775)
    finally:
        os.umask(old)
    (tmp_path / "via").symlink_to(tmp_path / "real")
    om = tmp_path / "om" / "tiny_bs4.om"
    ascend.compile_om(ascend.AtcJob(tiny, om, 4, tiny_onnx.H, tiny_onnx.W, "Ascend310P3"))
    ascend.ais_infer(ascend.AisInferJob(om, tmp_path / "via" / "bins", tmp_path / "preds", "run", 4))
    argv = [json.loads(x)["argv"] for x in standins.read_text().splitlines() if json.loads(x)["tool"] == "ais_bench"][-1]
    given = argv[argv.index("--input") + 1]
    assert given == str((tmp_path / "real" / "bins").resolve()) and not Path(given).is_symlink()
    mode = lambda p: oct(p.stat().st_mode & 0o777)  # noqa: E731
    assert mode(tmp_path / "preds") == "0o750" and mode(tmp_path / "preds" / "run") == "0o750"
    assert {mode(p) for p in (tmp_path / "preds" / "run").iterdir()} == {"0o640"}
    assert mode(tmp_path / "preds" / "run_summary.json") == "0o640"
    assert {mode(b) for b in bins} == {"0o640"}


def test_kit_refuses_odd_characters_and_symlinked_bins(tiny, standins, tmp_path):
    om = tmp_path / "om" / "tiny_bs4.om"
    ascend.compile_om(ascend.AtcJob(tiny, om, 4, tiny_onnx.H, tiny_onnx.W, "Ascend310P3"))
    bins = tiny_onnx.make_bins(tmp_path / "bins", ["a.bin"])
    with pytest.raises(KitError, match=r"contains ' '.*\[_A-Za-z0-9/\.-\].*ARTIFACTS"):
        ascend.ais_infer(ascend.AisInferJob(om, bins[0].parent, tmp_path / "pred s", "run", 4))
    (tmp_path / "bins" / "b.bin").symlink_to(bins[0])
    with pytest.raises(KitError, match="b.bin is a symlink"):
        ascend.ais_infer(ascend.AisInferJob(om, bins[0].parent, tmp_path / "preds", "run", 4))
    assert not (tmp_path / "preds").exists() or not list((tmp_path / "preds").iterdir())


def test_pkg_resources_missing_per_era(tiny, standins, tmp_path):
    """2023: three misleading warnings and tensor mode; 2024: UnboundLocalError."""
    block = tmp_path / "block"
    block.mkdir()
    (block / "pkg_resources.py").write_text("raise ModuleNotFoundError(\"No module named 'pkg_resources'\")\n")
    om = tmp_path / "tiny_bs4.om"
    ascend.compile_om(ascend.AtcJob(tiny, om, 4, tiny_onnx.H, tiny_onnx.W, "Ascend310P3"))
    env = {"PYTHONPATH": f"{block}:{STANDINS}"}
    old = _ais(["--model", str(om), "--loop", "1"], {**env, "STANDIN_AIS_ERA": "2023-06"})
    assert old.returncode == 0 and old.stdout.count("aclruntime version:None is lower") == 3
    ait = _ais(["--model", str(om), "--loop", "1"], {**env, "STANDIN_AIS_ERA": "2024-06"})
    assert ait.returncode != 0 and "UnboundLocalError" in ait.stderr


# ------------------------------------------------------------------ the deeper probe
def _harmless_set_env(tmp_path):
    return str(ph.harmless_set_env(tmp_path))


def test_probe_reports_versions(standins, tmp_path):
    backend, reason = select_backend("ascend", _harmless_set_env(tmp_path))
    assert backend == "ascend" and "ais_bench 0.0.2 (ais_bench), aclruntime 0.0.2" in reason


def test_probe_fails_on_missing_aclruntime_before_anything(standins, tmp_path, monkeypatch):
    monkeypatch.setenv("STANDIN_ACLRUNTIME_MISSING", "1")
    set_env = _harmless_set_env(tmp_path)
    with pytest.raises(KitError) as err:
        select_backend("ascend", set_env)
    msg = str(err.value)
    assert "check 'aclruntime' failed" in msg and "libascendcl.so" in msg and f"source {set_env}" in msg
    backend, reason = select_backend("auto", set_env)
    assert backend == "ort" and "'aclruntime' failed" in reason


def test_probe_fails_on_missing_pkg_resources(standins, tmp_path, monkeypatch):
    block = tmp_path / "block"
    block.mkdir()
    (block / "pkg_resources.py").write_text("raise ModuleNotFoundError(\"No module named 'pkg_resources'\")\n")
    monkeypatch.setenv("PYTHONPATH", f"{block}:{STANDINS}:{STANDINS / 'cann_site'}")
    with pytest.raises(KitError) as err:
        select_backend("ascend", _harmless_set_env(tmp_path))
    msg = str(err.value)
    assert "check 'pkg_resources' failed" in msg and "-m pip install 'setuptools==80.10.2'" in msg


def test_probe_and_envcheck_find_the_ait_distribution_name(standins, tmp_path, monkeypatch):
    """ait installs the tool as `ait-benchmark`: versions are still found (issue 10 item 4)."""
    site = tmp_path / "site"
    site.mkdir()
    for pkg in ("ais_bench", "aclruntime"):
        shutil.copytree(STANDINS / pkg, site / pkg)
    shutil.copy(STANDINS / "standin_log.py", site / "standin_log.py")
    meta = site / "ait_benchmark-7.0.0c2.dist-info"
    meta.mkdir()
    (meta / "METADATA").write_text("Metadata-Version: 2.1\nName: ait-benchmark\nVersion: 7.0.0c2\n")
    monkeypatch.setenv("PYTHONPATH", f"{site}:{STANDINS / 'cann_site'}")
    backend, reason = select_backend("ascend", _harmless_set_env(tmp_path))
    assert backend == "ascend" and "ais_bench 7.0.0c2 (ait-benchmark)" in reason
    from semask.backends import envcheck
    monkeypatch.setattr(sys, "path", [str(site)] + [p for p in sys.path if Path(p) != STANDINS])
    info = envcheck.ascend_info()
    assert info["ais_bench"] == "7.0.0c2" and info["ais_bench_dist"] == "ait-benchmark"


# ------------------------------------------------------------------ knobs
@pytest.mark.parametrize("call, match", [
    (lambda: ascend_knobs.check_precision("bogus", None), "PRECISION=bogus is not one of: force_fp16 .*; atc --precision_mode takes these"),
    (lambda: ascend_knobs.check_precision("force_fp16", "fp16"), "cannot be combined"),
    (lambda: ascend_knobs.check_precision(None, "fp32"), "PRECISION_V2=fp32 is not one of: fp16 origin"),
    (lambda: ascend_knobs.check_implmode("fast"), "OP_SELECT_IMPLMODE=fast is not one of: high_performance high_precision"),
    (lambda: ascend_knobs.check_soc("bogus"), "SOC=bogus is not one of: auto Ascend310 .*Ascend310P3.*; the documented atc --soc_version names"),
    (lambda: ascend_knobs.check_device("256"), "DEVICE=256 is not a device id 0-255"),
    (lambda: ascend_knobs.check_device("-1"), "DEVICE=-1"),
])
def test_knob_refusals(call, match):
    with pytest.raises(KitError, match=match):
        call()


def test_precision_v2_and_implmode_reach_atc(tiny, standins, tmp_path):
    info = ascend.compile_om(ascend.AtcJob(tiny, tmp_path / "v2.om", 4, tiny_onnx.H, tiny_onnx.W, "Ascend310P3",
                                           precision=None, precision_v2="mixed_float16",
                                           op_select_implmode="high_precision"))
    argv = [json.loads(x)["argv"] for x in standins.read_text().splitlines()][0]
    assert "--precision_mode_v2=mixed_float16" in argv and "--op_select_implmode=high_precision" in argv
    assert not any(a.startswith("--precision_mode=") for a in argv)
    assert info["precision_mode"] is None and info["precision_mode_v2"] == "mixed_float16"
    with pytest.raises(KitError, match="SOC=Ascend999 is not one of: auto "):
        ascend.compile_om(ascend.AtcJob(tiny, tmp_path / "x.om", 4, tiny_onnx.H, tiny_onnx.W, "Ascend999"))


def test_make_refuses_knobs_at_parse_time(tmp_path):
    base = {**ph.CONFIG, "BACKEND": "ort"}
    for extra, needle in (({"SOC": "bogus"}, "SOC=bogus is not one of: auto Ascend310 "),
                          ({"PRECISION": "bogus"}, "PRECISION=bogus is not one of: force_fp16"),
                          ({"PRECISION": "force_fp16", "PRECISION_V2": "fp16"}, "cannot be combined"),
                          ({"OP_SELECT_IMPLMODE": "fast"}, "OP_SELECT_IMPLMODE=fast is not one of"),
                          ({"DEVICE": "256"}, "DEVICE=256 is not a device id 0-255")):
        arts = tmp_path / f"a{len(extra)}{list(extra.values())[0]}"
        r = ph.run_make(["all"], arts, tmp_path / "data", {**base, **extra}, check=False)
        assert r.returncode != 0 and needle in r.stderr, (extra, r.stderr)
        assert not arts.exists()


def test_om_name_carries_every_knob(tmp_path):
    set_env = ph.harmless_set_env(tmp_path)
    env = ph.ascend_env(tmp_path / "log", set_env)
    arts = tmp_path / "arts"
    r = ph.run_make(["om"], arts, tmp_path / "data", {**ph.CONFIG, "BACKEND": "ascend", "SOC": "Ascend310B1",
                    "PRECISION_V2": "mixed_float16", "OP_SELECT_IMPLMODE": "high_precision"}, env=env,
                    flags=["-n", "--debug=b"])
    # no dataset under DATA_ROOT here: the native size defaults to Cityscapes' 1024x2048, hence _out1024x2048
    stem = ph.STEM.replace(f"_{ph.WTAG}", f"_out1024x2048_{ph.WTAG}")
    om = f"{arts}/om/{stem}_Ascend310B1_v2-mixed_float16_high_precision.om"
    assert ph.planned_path(r, "OM") == om  # the build step reads the knobs from the plan


# ------------------------------------------------------------------ parse-time ARTIFACTS refusal
@pytest.mark.parametrize("backend", ["ascend", "auto"])
def test_artifacts_with_bad_character_refused_for_ascend(tmp_path, backend):
    env = ph.ascend_env(tmp_path / "log", ph.harmless_set_env(tmp_path))
    arts = tmp_path / "my+artifacts"  # a space is refused for every backend (test_hostile_inputs)
    r = ph.run_make(["all"], arts, tmp_path / "data", {**ph.CONFIG, "BACKEND": backend}, env=env, check=False)
    errors = [ln for ln in r.stderr.splitlines() if ln.startswith("error:")]
    assert r.returncode != 0 and len(errors) == 1, r.stderr
    assert "has characters ais_bench rejects" in errors[0] and "[_A-Za-z0-9/.-]" in errors[0]
    assert not arts.exists() and not (tmp_path / "log").exists() or "ais_bench\", \"--model" not in (tmp_path / "log").read_text()


# ------------------------------------------------------------------ placement and pre-check
def test_placement_summary_from_recorded_fixture():
    model = json.loads((FIXTURES / "atc_om_semask_reduced.json").read_text())
    s = atc_report.summarise_placement(model)
    assert (s["ai_core"], s["ai_cpu"], s["other"]) == (9, 1, 3)
    assert s["by_kernel_lib"] == {"AIcoreEngine": 9, "DNN_VM_GE_LOCAL_OP_STORE": 2, "DNN_VM_RTS_OP_STORE": 1,
                                  "aicpu_ascend_kernel": 1}
    assert [o["name"] for o in s["ai_cpu_ops"]] == ["/ArgMax"] and s["atc_version_in_om"] == "7.0.0.standin"
    assert "1 op(s) of this .om run on AI CPU" in atc_report.placement_warning({"placement": s})
    assert atc_report.placement_warning({"placement": {**s, "ai_cpu": 0, "ai_cpu_ops": []}}) is None


def test_old_cann_without_mode1_says_so_and_goes_on(tiny, standins, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("STANDIN_ATC_OLD_CANN", "1")
    info = ascend.compile_om(ascend.AtcJob(tiny, tmp_path / "old.om", 4, tiny_onnx.H, tiny_onnx.W, "Ascend310P3"))
    assert (tmp_path / "old.om").is_file() and info["placement"]["available"] is False
    assert "note: no op placement summary: atc --mode=1 could not convert" in capsys.readouterr().out


def _atc_check_tree(tmp_path_factory, tmp_path):
    shared = ph.shared_ascend(tmp_path_factory)
    arts = ph.copy_tree(shared["artifacts"], tmp_path / "arts")
    env = {**shared["env"], "STANDIN_LOG": str(tmp_path / "log")}
    return shared, arts, env


def test_make_atc_check(tmp_path_factory, tmp_path):
    shared, arts, env = _atc_check_tree(tmp_path_factory, tmp_path)
    ok = ph.run_make(["atc-check"], arts, shared["data"], shared["vars"], env=env)
    assert "atc pre-check: every op of the graph is supported (exit 0)" in ok.stdout
    argv = ph.standin_calls(tmp_path / "log", "atc")[-1]
    assert argv[1:4] == ["--mode=3", "--framework=5", f"--model={(arts / 'onnx' / f'{ph.STEM}_sim_atc.onnx').resolve()}"]
    verdict = ph.read_json(arts / "om" / f"{ph.STEM}_{ph.SOC}.atc_check.json")
    assert verdict["ok"] is True and verdict["soc_version"] == ph.SOC
    bad = ph.run_make(["atc-check"], arts, shared["data"], shared["vars"], env={**env, "STANDIN_ATC_UNSUPPORTED": "Erf"},
                      check=False)
    assert bad.returncode != 0
    lines = [ln for ln in bad.stdout.splitlines() if ln.startswith("  ") and "(Erf)" in ln]
    assert lines and all("No supported Ops kernel and engine are found" in ln for ln in lines)
    assert "unsupported op(s)" in bad.stdout and "atc: EZ3003" in bad.stdout
    old = ph.run_make(["atc-check"], arts, shared["data"], shared["vars"], env={**env, "STANDIN_ATC_OLD_CANN": "1"})
    assert "atc pre-check unavailable" in old.stdout and "going on" in old.stdout


# ------------------------------------------------------------------ installer
# the installer's sources and its choice by CANN layout: tests/test_ascend_source.py (issue 25 §2)
