"""The pipeline's steps, each reading the run's plan: `python -m semask <step> --plan <plan.json>`.

Why: the plan already checked every variable and named every artifact; a step that takes them back
as flags parses and checks them again, in another form. Here each step builds its typed spec from the
plan (the backend's InferSpec/PerfSpec/BuildSpec, or the arguments of a data/model step) and makes one
call. The backend comes from the plan too, so the Makefile's recipes are the same for every backend.
Heavy imports stay inside the steps.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Dict

from semask.backends.base import BuildSpec, InferSpec, PerfSpec, Weights
from semask.run.plan import RunPlan


def weights(plan: RunPlan) -> Weights:
    """The run's WEIGHTS with the sha256 the plan recorded (so no step hashes the file again). Official
    weights downloaded by this very run (the plan saw no file): the first step hashes them once, into
    their stamp, and the later steps read it from there."""
    sha = plan.resolved.weights_sha256
    if not sha and plan.resolved.weights_tag == "official" and Path(plan.values["WEIGHTS"]).is_file():
        from semask.run.stamps import official_sha256

        sha = official_sha256(Path(plan.paths()["WEIGHTS_STAMP"]), plan.values["WEIGHTS"])
    return Weights(plan.values["WEIGHTS"], sha)


def _limit(plan: RunPlan):
    return int(plan.values["LIMIT"]) if plan.values["LIMIT"] else None


def _knobs(plan: RunPlan) -> Dict[str, str]:
    """The variables as given (SOC=auto stays auto: atc's step reads the chip and records where the SoC came
    from), plus the device ids the plan resolved."""
    return {**plan.values, "DEVICES": plan.resolved.devices}


def infer_spec(plan: RunPlan) -> InferSpec:
    p = plan.paths()
    return InferSpec(p["MODEL_FILE"], p["BINS_DIR"], str(Path(p["PRED_SUMMARY"]).parent), p["RUN_NAME"], plan.bs,
                     weights(plan), _knobs(plan))


def perf_spec(plan: RunPlan) -> PerfSpec:
    p, loop = plan.paths(), plan.values["LOOP"]
    bins = p["BINS_DIR"] if Path(p["BINS"]).is_file() else None
    return PerfSpec(p["MODEL_FILE"], plan.bs, None if loop == "auto" else int(loop), float(plan.values["PERF_SECONDS"]),
                    p["PERF_JSON"], bins, weights(plan), _knobs(plan))


def build_spec(plan: RunPlan) -> BuildSpec:
    p, v = plan.paths(), plan.values
    return BuildSpec(p["ONNX_ATC"], p["OM"], plan.bs, int(v["HEIGHT"]), int(v["WIDTH"]), v["INPUT_DTYPE"],
                     weights(plan), _knobs(plan))


# ---------------------------------------------------------------------------- the steps
def env(plan: RunPlan) -> None:
    from semask.backends import envcheck

    envcheck.write_environment(plan.paths()["ENV_JSON"], plan.backend, "all")


def labels(plan: RunPlan) -> None:
    from semask.data.labels import prepare_labels

    out = plan.paths()["LABELS_DIR"]
    result = prepare_labels(Path(plan.values["DATA_ROOT"]), Path(out), _limit(plan), plan.values["LABELS"], None, None)
    state = "updated" if result["manifest_changed"] else "unchanged"
    print(f"{result['count']} label images in {out} ({result['written']} written); {result['manifest']} {state}")


def bins(plan: RunPlan) -> None:
    from semask.data.bins import preprocess

    v, out = plan.values, plan.paths()["BINS_DIR"]
    result = preprocess(Path(v["DATA_ROOT"]), Path(out), v["INPUT_DTYPE"], (int(v["HEIGHT"]), int(v["WIDTH"])),
                        _limit(plan), None)
    state = "updated" if result["manifest_changed"] else "unchanged"
    print(f"{result['count']} bins in {out} ({result['written']} written); {result['manifest']} {state}")


def _export(plan: RunPlan, target: str, key: str) -> None:
    from semask.model.export import ExportSpec
    from semask.model.onnx_steps import export_raw
    from semask.spec import DEFAULT_OPSET, OUTPUT_KINDS

    v = plan.values
    out_h, out_w = plan.out_size if plan.resizes else (None, None)
    spec = ExportSpec(v["MODEL"], weights(plan), plan.bs, int(v["HEIGHT"]), int(v["WIDTH"]), DEFAULT_OPSET,
                      v["INPUT_DTYPE"], OUTPUT_KINDS[0], v["LABEL_DTYPE"], out_h, out_w)
    meta = export_raw(spec, Path(plan.paths()[key]), target)
    print(meta["summary_line"])


def _simplify(plan: RunPlan, src: str, out: str) -> None:
    from semask.model.onnx_steps import simplify

    p = plan.paths()
    print(simplify(Path(p[src]), Path(p[out]))["summary_line"])


def atc_graph(plan: RunPlan) -> None:
    from semask.backends.ascend.graph import write_atc_graph

    p = plan.paths()
    out = Path(p["ONNX_ATC"])
    side = write_atc_graph(Path(p["ONNX_SIM"]), out)
    rs, gi = side["ascend_graph"]["resize_half_pixel_to_pytorch_half_pixel"], side["ascend_graph"]["gather_indices_int32"]
    print(f"{out.name}: {rs['rewritten']} Resize half_pixel -> pytorch_half_pixel ({len(rs['kept'])} kept), "
          f"{gi['converted']} Gather indices -> int32 ({len(gi['kept'])} kept) | verify: {side['verification']}")


def atc_check(plan: RunPlan) -> None:
    from semask.backends.ascend.backend import atc_precheck

    p = plan.paths()
    atc_precheck(p["ONNX_ATC"], plan.values["SOC"], int(plan.resolved.devices.split(",")[0]), p["ATC_CHECK"])


def quantize(plan: RunPlan) -> None:
    """PRECISION=int8 (OpenVINO): NNCF's IR of the ORT graph on the first CALIB bins ($(INT8_IR), its sidecar)."""
    from semask.backends.openvino.quantize import QuantSpec, build

    p, v = plan.paths(), plan.values
    build(QuantSpec(Path(p["ONNX_ORT"]), Path(p["BINS_DIR"]), plan.bs, int(v["CALIB"]), Path(p["INT8_IR"])), v["CPUINFO"])


def fp16_check(plan: RunPlan) -> None:
    """`make fp16-check`: force_fp16 imitated on the ATC graph with the run's frames; report and keep_dtype cfg."""
    from semask.evaluate.fp16_check import Fp16Spec, check, render

    p = plan.paths()
    result = check(Fp16Spec(Path(p["ONNX_ATC"]), Path(p["BINS_DIR"]), plan.bs, Path(p["FP16_DIR"])))
    print(render(result), end="")
    print(f"fp16-check: {p['FP16_DIR']}/fp16_check.md" + (f"; on the Ascend host: make om KEEP_DTYPE="
          f"{result['keep_dtype']['cfg']}" if result["keep_dtype"]["node_count"] else "; nothing to keep in fp32"))


def provenance(plan: RunPlan, key: str, command: str) -> None:
    from semask.core.fsio import atomic_write_json
    from semask.run.provenance import plan_record

    atomic_write_json(Path(plan.paths()[key]), plan_record(plan, command, plan.runner.host_facts()))


def report(plan: RunPlan, command: str) -> None:
    """Provenance, score, then the run's table (make's $(REPORT))."""
    from semask.core.progress import step
    from semask.evaluate.scoring import ScoreOptions, score, summary_line
    from semask.run.table_views import report_files

    p, v = plan.paths(), plan.values
    provenance(plan, "REPORT_PROVENANCE", command)
    h, w = plan.out_size
    with step("score", p["PRED_SUMMARY"]):
        result = score(ScoreOptions(Path(p["PRED_SUMMARY"]), Path(p["LABELS_DIR"]), Path(p["REPORT"]), v["LABEL_DTYPE"],
                                    Path(p["REPORT_MD"]), h, w, None, None, 3, Path(v["DATA_ROOT"]),
                                    Path(p["PANELS_DIR"]), [Path(p["REPORT_PROVENANCE"])], None))
    print(summary_line(result))
    if "ORT_FP32_SUMMARY" in p:  # Ascend: how far its labels are from the ORT fp32 labels of the same frames
        from semask.evaluate.fp32_agreement import add_to_report

        print(add_to_report(Path(p["REPORT"]), Path(p["PRED_SUMMARY"]), Path(p["ORT_FP32_SUMMARY"]), v["LABEL_DTYPE"])[1])
    print(report_files(Path(p["REPORT"]), Path(p["PRED_SUMMARY"]), smoke=v["SMOKE"] == "1",
                       out=Path(p["TABLE_MD"]), weights=weights(plan)), end="")


def perf(plan: RunPlan, command: str) -> None:
    provenance(plan, "PERF_JSON_PROVENANCE", command)
    plan.runner.perf(perf_spec(plan))


def perf_table(plan: RunPlan) -> None:
    from semask.run.table_views import perf_files

    p = plan.paths()
    print(perf_files(Path(p["PERF_JSON"]), Path(p["PERF_JSON_PROVENANCE"]), artifacts=plan.artifacts,
                     weights=weights(plan)), end="")


def crosscheck(plan: RunPlan) -> None:
    """`make crosscheck`: the kit's model beside the upstream code on the first CROSSCHECK_NUM images."""
    from semask.evaluate.upstream import compare as cc

    v = plan.values
    data = Path(v["DATA_ROOT"]) if (Path(v["DATA_ROOT"]) / "leftImg8bit").is_dir() else None
    opts = cc.CrosscheckOptions(Path(v["UPSTREAM_DIR"]), v["MODEL"], v["WEIGHTS"], int(v["CROSSCHECK_NUM"]),
                                int(v["HEIGHT"]), int(v["WIDTH"]), Path(plan.paths()["CROSSCHECK_JSON"]), data_root=data,
                                onnx=Path(v["CROSSCHECK_ONNX"]) if v["CROSSCHECK_ONNX"] else None)
    cc.crosscheck(opts, log=lambda msg: print(msg, flush=True))


def demo_latest(plan: RunPlan) -> None:
    """`make demo`: ARTIFACTS' last run is the demo's (under ARTIFACTS/demo), through the one writer."""
    from semask.run.plan import LATEST, write_latest

    demo = plan.artifacts / "demo"
    write_latest(plan.artifacts, demo / (demo / LATEST).read_text(encoding="utf-8").strip())


STEPS: Dict[str, Callable[[RunPlan, str], None]] = {
    "env": lambda plan, cmd: env(plan),
    "labels": lambda plan, cmd: labels(plan),
    "bins": lambda plan, cmd: bins(plan),
    "export": lambda plan, cmd: _export(plan, "ascend", "ONNX_RAW"),
    "export-ort": lambda plan, cmd: _export(plan, "ort", "ONNX_ORT_RAW"),
    "simplify": lambda plan, cmd: _simplify(plan, "ONNX_RAW", "ONNX_SIM"),
    "simplify-ort": lambda plan, cmd: _simplify(plan, "ONNX_ORT_RAW", "ONNX_ORT"),
    "atc-graph": lambda plan, cmd: atc_graph(plan),
    "atc-check": lambda plan, cmd: atc_check(plan),
    "build": lambda plan, cmd: plan.runner.build(build_spec(plan)) and None,
    "infer": lambda plan, cmd: plan.runner.infer(infer_spec(plan)) and None,
    "perf": perf,
    "perf-table": lambda plan, cmd: perf_table(plan),
    "report": report,
    "crosscheck": lambda plan, cmd: crosscheck(plan),
    "demo-latest": lambda plan, cmd: demo_latest(plan),
    "quantize": lambda plan, cmd: quantize(plan),
    "fp16-check": lambda plan, cmd: fp16_check(plan),
}
