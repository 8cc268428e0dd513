"""One plan per run (semask/run/plan.py): typos refused, names from what a run is made of, make -n writes nothing."""
from __future__ import annotations

import hashlib
import os
import re
import subprocess

import pytest

import pipeline_helpers as ph
from semask.run import plan as planmod


# ------------------------------------------------------------------------------ unknown variables
@pytest.mark.parametrize("typo,suggested", [("Bs=4", "BS"), ("BATCH_SIZE=4", "BS"), ("PRECISON=fp8", "PRECISION")])
def test_misspelled_variable_is_refused_with_a_suggestion_and_nothing_written(tmp_path, typo, suggested):
    arts = tmp_path / "artifacts"
    proc = subprocess.run(["make", "all", typo, f"ARTIFACTS={arts}", "BACKEND=ort"], cwd=ph.ROOT, env=ph.clean_env(),
                          capture_output=True, text=True, timeout=120)
    name = typo.split("=")[0]
    assert proc.returncode == 2, proc.stderr
    assert f"error: unknown variable '{name}' (did you mean {suggested}?)" in proc.stderr
    assert not arts.exists()


def test_variables_from_the_environment_are_not_refused(tmp_path):
    proc = subprocess.run(["make", "help"], cwd=ph.ROOT, env=ph.clean_env({"Bs": "4", "FOO": "1"}),
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "NOWAIT" in proc.stdout, proc.stderr


def test_makefile_reads_its_plan_with_one_python_call_and_has_no_paths_target():
    makefile = (ph.ROOT / "Makefile").read_text()
    shells = re.findall(r"\$\(shell ([^\n]*)", makefile)
    assert len([s for s in shells if "PY" in s or "python" in s]) <= 2, shells
    assert not re.search(r"^paths:", makefile, re.M)
    for path in (ph.ROOT / "tools" / "semask").rglob("*.py"):
        assert '"paths"' not in path.read_text(), path  # no Python learns a name by running make


def test_the_plans_goals_are_the_makefiles_verbs():
    """A verb the Makefile has but the plan does not know would be refused as a typo (`make fp16-check` was)."""
    makefile = (ph.ROOT / "Makefile").read_text()
    phony = re.search(r"^\.PHONY:((?:[^\n]*\\\n)*[^\n]*)", makefile, re.M).group(1).replace("\\\n", " ").split()
    assert sorted(phony) == sorted(planmod.GOALS)
    proc = subprocess.run(["make", "-n", "fp16-check", "MODEL=reduced", "WEIGHTS=random", "HEIGHT=64", "WIDTH=128"],
                          cwd=ph.ROOT, env=ph.clean_env(), capture_output=True, text=True)
    assert "unknown goal" not in proc.stderr, proc.stderr


def test_makefile_steps_read_the_plan_with_no_backend_branch_and_no_variable_flags():
    """Each pipeline step's recipe names the step and the plan only; the backend comes from the plan."""
    makefile = (ph.ROOT / "Makefile").read_text()
    assert not re.search(r"^\s*(ifeq|ifneq|else ifeq)\b.*BACKEND", makefile, re.M)
    assert not re.search(r"\$\(if \$\(filter (ascend|ort|openvino),", makefile)
    steps = [ln for ln in makefile.splitlines() if ln.startswith("\t") and "$(STEP)" in ln]
    assert len(steps) >= 12, steps
    for line in steps:
        assert re.fullmatch(r"\t@?(\$\(STEP_PREFIX\) )?\$\(STEP\) [a-z0-9-]+ --plan \$\(PLAN_JSON\)", line), line
    assert makefile.count("--weights") <= 1 and makefile.count("--batch-size") == 0
    for name in ("BS", "HEIGHT", "WIDTH", "PRECISION", "ORT_PROVIDER", "DEVICES", "LOOP", "SOC"):
        assert not re.search(rf"--[a-z-]+ \$\({name}\)", makefile), name


# ------------------------------------------------------------------------------ names
def test_names_hand_computed():
    weights = str(ph.ROOT / ph.GOLDEN_WEIGHTS)
    digest = hashlib.sha256(open(weights, "rb").read()).hexdigest()
    values, given = planmod.read_values({"MODEL": "reduced", "WEIGHTS": weights, "BS": "4", "HEIGHT": "64",
                                         "WIDTH": "128", "LIMIT": "7", "ARTIFACTS": "out"}, {})
    resolved = planmod.Resolved(backend="ort", native="64x128", weights_tag=planmod.weights_tag(weights, "reduced"),
                                data_tag=planmod.data_tag("/data/cs"))
    run = planmod.RunPlan(values=values, given=given, resolved=resolved, goals=("all",))
    dtag = "d" + hashlib.sha256(os.path.realpath("/data/cs").encode()).hexdigest()[:8]
    paths = run.paths()
    assert paths["ONNX_ORT"] == f"out/onnx/semask_reduced_bs4_64x128_float32_int32_w{digest[:8]}_ort.onnx"
    assert paths["REPORT"] == f"out/reports/ort-cpu_semask_reduced_bs4_64x128_float32_int32_w{digest[:8]}_{dtag}_first7.json"
    assert paths["BINS"] == f"out/bins/64x128_float32_{dtag}_first7/manifest.json"
    bs8 = run.with_values(BS="8").paths()
    assert bs8["PERF_JSON"] == f"out/perf/ort-cpu_semask_reduced_bs8_64x128_float32_int32_w{digest[:8]}_{dtag}_first7_loopauto60s.json"
    native = planmod.RunPlan(values={**values, "HEIGHT": "32"}, given=given, resolved=resolved).stem
    assert native == f"semask_reduced_bs4_32x128_float32_int32_out64x128_w{digest[:8]}"
    assert planmod.weights_tag("random", "small") == "random"
    assert planmod.weights_tag("data/weights/semask_small.pth", "small") == "official"


def test_plan_json_round_trips():
    values, given = planmod.read_values({"BS": "2"}, {"MODEL": "tiny"})
    run = planmod.RunPlan(values=values, given=given, resolved=planmod.Resolved(backend="ascend", soc="Ascend310P3"),
                          goals=("all",))
    again = planmod.RunPlan.from_json(run.to_json())
    assert again == run and again.paths() == run.paths() and again["MODEL"] == "tiny"


# ------------------------------------------------------------------------------ identity from content
def test_other_weights_never_invalidate_a_finished_run_and_dry_run_writes_nothing(tmp_path, tmp_path_factory):
    """make all (weights A); make -n all WEIGHTS=B (a changed copy: other content); make all (A): nothing to do."""
    shared = ph.shared_ort(tmp_path_factory)
    tree = ph.copy_tree(shared["artifacts"], tmp_path / "artifacts")
    other = tmp_path / "other.npz"
    other.write_bytes((ph.ROOT / ph.GOLDEN_WEIGHTS).read_bytes() + b"\0")  # other bytes: another identity
    before = ph.mtimes(tree)
    listing = sorted(p.relative_to(tree) for p in tree.rglob("*"))
    dry = ph.run_make(["all"], tree, shared["data"], ph.ort_vars(WEIGHTS=str(other)), flags=["-n"])
    assert "-m semask export-ort --plan" in dry.stdout  # B has no artifacts of its own yet
    assert sorted(p.relative_to(tree) for p in tree.rglob("*")) == listing and ph.mtimes(tree) == before
    again = ph.run_make(["all"], tree, shared["data"], ph.ort_vars())
    assert "Nothing to be done" in again.stdout and ph.mtimes(tree) == before, again.stdout[-2000:]
