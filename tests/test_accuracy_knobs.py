"""Issue 25 §6: KEEP_DTYPE, OP_PRECISION, MIXLIST (sha256 in the .om name and sidecar) and PRECISION_V2 against the
atc's own --help. sha256 references are computed here with hashlib over literal file contents."""
from __future__ import annotations

import hashlib
import json
import sys

import pytest

import pipeline_helpers as ph
from semask.backends.ascend.accuracy_knobs import knob_problems, knob_tag

sys.path.insert(0, str(ph.STANDINS))
import tiny_onnx  # noqa: E402

KEEP = b"Pow_12\nReduceMean_13\n"  # the ConvNeXt guide's kind of keep list: LayerNorm's Pow/ReduceMean by name
OP_INI = b"[ByOpType]\nGelu=high_performance\n"


def _files(tmp_path):
    keep, ini = tmp_path / "keep_dtype.cfg", tmp_path / "op_precision.ini"
    keep.write_bytes(KEEP)
    ini.write_bytes(OP_INI)
    return keep, ini


def test_problems_and_tag(tmp_path):
    keep, ini = _files(tmp_path)
    assert knob_problems({"KEEP_DTYPE": str(tmp_path / "nope.cfg")}) == [
        f"KEEP_DTYPE={tmp_path / 'nope.cfg'} is not a file; give the config atc's --keep_dtype reads, or leave "
        "KEEP_DTYPE empty"]
    [line] = knob_problems({"MIXLIST": str(keep), "PRECISION": "force_fp16"})
    assert line.startswith(f"MIXLIST={keep} needs a mixed-precision mode") and "PRECISION=allow_mix_precision" in line
    assert knob_problems({"MIXLIST": str(keep), "PRECISION": "allow_mix_precision"}) == []
    tag = knob_tag({"KEEP_DTYPE": str(keep), "OP_PRECISION": str(ini)})
    assert tag == f"_kd{hashlib.sha256(KEEP).hexdigest()[:8]}_op{hashlib.sha256(OP_INI).hexdigest()[:8]}"


def test_compile_passes_the_flags_and_records_the_sha256(standin_log, tmp_path):
    from semask.backends.ascend import toolchain

    keep, ini = _files(tmp_path)
    model = tiny_onnx.make_model(tmp_path / "tiny_bs1.onnx", 1)
    om = tmp_path / "om" / "tiny_bs1.om"
    info = toolchain.compile_om(toolchain.AtcJob(model, om, 1, tiny_onnx.H, tiny_onnx.W, ph.SOC, "force_fp16",
                                                 knobs={"KEEP_DTYPE": str(keep), "OP_PRECISION": str(ini),
                                                        "MIXLIST": None}))
    assert f"--keep_dtype={keep}" in info["command"] and f"--op_precision_mode={ini}" in info["command"]
    side = json.loads(om.with_suffix(".json").read_text())
    assert side["accuracy_knobs"]["KEEP_DTYPE"]["sha256"] == hashlib.sha256(KEEP).hexdigest()
    assert side["accuracy_knobs"]["OP_PRECISION"]["sha256"] == hashlib.sha256(OP_INI).hexdigest()


@pytest.fixture
def ascend_make(tmp_path):
    env = ph.ascend_env(tmp_path / "log", ph.harmless_set_env(tmp_path))
    return env, {**ph.CONFIG, "BACKEND": "ascend", "SOC": ph.SOC}


def test_make_names_the_om_after_the_knob_files(ascend_make, tmp_path):
    env, variables = ascend_make
    keep, _ = _files(tmp_path)
    r = ph.run_make(["om"], tmp_path / "arts", None, {**variables, "KEEP_DTYPE": str(keep)}, env=env, flags=["-n"])
    assert ph.planned_path(r, "OM").endswith(f"_{ph.SOC}_force_fp16_kd{hashlib.sha256(KEEP).hexdigest()[:8]}.om")
    r = ph.run_make(["om"], tmp_path / "arts", None, {**variables, "MIXLIST": str(keep)}, env=env, flags=["-n"],
                    check=False)
    [error] = ph.parse_errors(r)
    assert error.startswith(f"error: MIXLIST={keep} needs a mixed-precision mode")


def test_precision_v2_refused_on_an_atc_without_it(ascend_make, tmp_path):
    env, variables = ascend_make
    variables = {k: v for k, v in variables.items() if k != "PRECISION"}
    r = ph.run_make(["om"], tmp_path / "arts", None, {**variables, "PRECISION_V2": "fp16"},
                    env={**env, "STANDIN_ATC_OLD_CANN": "1"}, flags=["-n"], check=False)
    [error] = ph.parse_errors(r)
    assert error.startswith("error: PRECISION_V2=fp16, but this atc (") and error.endswith(
        "does not list --precision_mode_v2 in its --help (CANN 6.0 has none); use PRECISION=force_fp16 instead")
    ph.run_make(["om"], tmp_path / "arts", None, {**variables, "PRECISION_V2": "fp16"}, env=env, flags=["-n"])


def test_fused_layernorms_counted_and_warned(tmp_path_factory):
    """The shared Ascend run's .om: the ONNX's LayerNorm patterns (one per nn.LayerNorm of the reduced network)
    against the LayerNorm ops in the stand-in's recorded --mode=1 JSON (one, transcribed from the fixture)."""
    import torch

    from semask.model.network import build_model

    shared = ph.shared_ascend(tmp_path_factory)
    [side] = [p for p in (shared["artifacts"] / "om").glob("*.json") if not p.name.endswith("atc_check.json")]
    record = json.loads(side.read_text())["layernorm"]
    modules = sum(isinstance(m, torch.nn.LayerNorm) for m in build_model("reduced").modules())
    assert record["onnx_patterns"] == modules and record["fused"] == 1
    assert record["warning"] in shared["all"].stdout
    assert record["warning"].startswith(f"warning: atc fused 1 of the graph's {modules} LayerNorm patterns")


def test_ascend_report_has_the_label_agreement_with_ort_fp32(tmp_path_factory):
    """The stand-in ais_bench runs the same fp32 graph as ORT here, so every label agrees (7 images of 64x128)."""
    import shutil

    shared, ort = ph.shared_ascend(tmp_path_factory), ph.shared_ort(tmp_path_factory)
    base = tmp_path_factory.mktemp("fp32_agreement")
    arts = ph.copy_tree(shared["artifacts"], base / "artifacts", skip=("reports", "perf"))
    variables = {**ph.CONFIG, "BACKEND": "ascend", "SOC": ph.SOC}
    env = ph.ascend_env(base / "log", shared["env"]["ASCEND_SET_ENV"])
    for name in (ph.ORT_RUN, f"{ph.ORT_RUN}_summary.json", f"{ph.ORT_RUN}_manifest.json"):  # the ORT run, made now
        src = ort["artifacts"] / "preds" / name
        if src.is_dir():
            shutil.copytree(src, arts / "preds" / name, copy_function=shutil.copy)
        else:
            shutil.copy(src, arts / "preds" / name)
    r = ph.run_make(["all"], arts, shared["data"], variables, env=env)
    record = ph.read_json(ph.report_path(arts, ph.ASCEND_RUN))["label_agreement_vs_ort_fp32"]
    assert (record["agreement"], record["images"], record["pixels"]) == (1.0, ph.N_IMAGES, ph.N_IMAGES * ph.H * ph.W)
    assert "labels = ORT fp32 labels of the same frames: 100.0000 %" in r.stdout


def test_make_om_passes_the_knob_files_to_atc(tmp_path_factory, tmp_path):
    """Through the build step: a KEEP_DTYPE run compiles a new .om (only atc runs) whose atc call and sidecar carry
    the file."""
    shared = ph.shared_ascend(tmp_path_factory)
    keep, _ = _files(tmp_path)
    arts = ph.copy_tree(shared["artifacts"], tmp_path / "artifacts", skip=("preds", "reports", "perf"))
    log = tmp_path / "log"
    env = ph.ascend_env(log, shared["env"]["ASCEND_SET_ENV"])
    ph.run_make(["om"], arts, shared["data"], {**ph.CONFIG, "BACKEND": "ascend", "SOC": ph.SOC,
                                               "KEEP_DTYPE": str(keep)}, env=env)
    sha = hashlib.sha256(KEEP).hexdigest()
    [side] = [p for p in (arts / "om").glob(f"*_kd{sha[:8]}.json")]
    record = json.loads(side.read_text())
    assert f"--keep_dtype={keep}" in record["command"] and record["accuracy_knobs"]["KEEP_DTYPE"]["sha256"] == sha
    compiles = [a for a in ph.standin_calls(log, "atc") if not any(x.startswith("--mode=") for x in a)]
    assert len(compiles) == 1 and f"--keep_dtype={keep}" in compiles[0]


def test_without_the_ort_run_the_report_says_how_to_get_it(tmp_path):
    from semask.evaluate.fp32_agreement import add_to_report

    report = tmp_path / "r.json"
    report.write_text(json.dumps({"mIoU": 0.5}))
    missing = tmp_path / "preds" / "ort-cpu_semask_x_d1_all_summary.json"
    record, line = add_to_report(report, tmp_path / "preds" / "ascend_x_summary.json", missing, "int32")
    assert record == {"reference": str(missing), "agreement": None,
                      "reason": "no ORT fp32 run ort-cpu_semask_x_d1_all of these frames; `make all BACKEND=ort` with the "
                                "same variables makes it, and the next `make all` here reports the agreement"}
    assert line == "note: label agreement with ORT fp32 not reported: " + record["reason"]
    assert json.loads(report.read_text()) == {"mIoU": 0.5, "label_agreement_vs_ort_fp32": record}
