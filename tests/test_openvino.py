"""BACKEND=openvino (CPU), real OpenVINO on the reduced model: the fp32 run passes the kit's verification
against PyTorch, `make all` gives the ORT path's mIoU in the same ais_bench layout, a perf JSON carries
every step's peak RSS, PRECISION=bf16 is refused in one line on a CPU without the units (a cpuinfo text
stands in for the CPU), and an interrupted inference resumes to the uninterrupted predictions."""
import signal

import numpy as np
import onnx
import pytest
import torch

import pipeline_helpers as ph
from semask.core.cpuflags import bf16_units, precision_problem, read_flags
from semask.model.checkpoint import load_weights
from semask.model.export import ExportWrapper, _with_logits_output
from semask.model.network import build_model
from semask.backends.openvino.runtime import Session
from semask.spec import ATOL, MARGIN
from semask.model.agreement import Agreement

STEM = ph.STEM
# x86 flags of a Zen 3 (AVX2, no AVX-512) and of a Skylake-SP (AVX-512 without bf16), and a Sapphire Rapids
ZEN3 = "processor\t: 0\nflags\t\t: fpu sse2 avx avx2 fma sha_ni vaes\n"
SKYLAKE = "processor\t: 0\nflags\t\t: fpu sse2 avx avx2 avx512f avx512bw avx512vl avx512_vnni\n"
SPR = "processor\t: 0\nflags\t\t: avx512f avx512_bf16 amx_bf16 amx_tile amx_int8\n"


@pytest.fixture(scope="module")
def ort_run(tmp_path_factory):
    return ph.shared_ort(tmp_path_factory)


@pytest.fixture(scope="module")
def ov_run(ort_run, tmp_path_factory):
    """`make all perf LOOP=1 BACKEND=openvino` on a copy of the ORT run's tree (same bins and graph)."""
    arts = ph.copy_tree(ort_run["artifacts"], tmp_path_factory.mktemp("ov") / "artifacts", skip={"preds", "reports"})
    proc = ph.run_make(["all", "perf"], arts, ort_run["data"], {**ph.CONFIG, "BACKEND": "openvino", "LOOP": "1"})
    return {"artifacts": arts, "proc": proc, "report": ph.read_json(ph.report_path(arts, ph.OV_RUN))}


def test_fp32_passes_the_kits_verification_against_pytorch(ort_run, tmp_path):
    graph = ort_run["artifacts"] / "onnx" / f"{STEM}_ort.onnx"
    with_logits = tmp_path / "logits.onnx"
    onnx.save(_with_logits_output(onnx.load(str(graph))), str(with_logits))
    x = torch.randn(ph.BS, 3, ph.H, ph.W, generator=torch.Generator().manual_seed(5))
    labels, logits = Session(with_logits, "fp32").run(None, {"image": x.numpy()})
    model = build_model("reduced")
    load_weights(model, ph.ROOT / ph.GOLDEN_WEIGHTS, quiet=True)
    wrapper = ExportWrapper(model, "float32", "labels", "int32").eval()
    check_logits, check_labels = Agreement(atol=ATOL, margin=MARGIN), Agreement(atol=ATOL, margin=MARGIN)
    with torch.no_grad():
        for i in range(ph.BS):
            ref = wrapper.logits(x[i:i + 1])[0].numpy()
            check_logits.add(ref, logits[i])
            check_labels.add(ref, labels[i])
    assert 0 < check_logits.max_abs_diff <= ATOL
    assert check_labels.disagree_over_margin == 0


def test_make_all_gives_the_ort_miou_in_the_ais_bench_layout(ort_run, ov_run):
    assert ov_run["report"]["mIoU"] == ort_run["report"]["mIoU"]
    arts = ov_run["artifacts"]
    summary = ph.read_json(arts / "preds" / f"{ph.OV_RUN}_summary.json")
    assert summary["backend"] == "openvino" and summary["precision"] == "fp32" and summary["precision_hint"] == "f32"
    assert summary["graph"] == "ort" and len(summary["filesinfo"]) == ph.N_IMAGES
    assert sorted(p.name for p in (arts / "preds" / ph.OV_RUN).glob("*.bin")) == \
        sorted(ph.pred_files(ort_run["artifacts"]))
    assert "| openvino/cpu |" in ov_run["proc"].stdout and "| fp32 |" in ov_run["proc"].stdout


def test_perf_json_has_every_steps_peak_rss(ov_run):
    perf = ph.read_json(ov_run["artifacts"] / "perf" / f"{ph.OV_RUN}_loop1.json")
    assert perf["backend"] == "openvino" and perf["graph"] == "ort" and len(perf["compute_time_list"]) == 1
    peaks = perf["peak_rss_bytes"]
    assert {"export", "onnxsim", "verify", "perf"} <= set(peaks)
    assert all(50e6 < peaks[k] < 8e9 for k in ("export", "onnxsim", "verify", "perf"))


def test_bf16_is_refused_in_one_line_on_a_cpu_without_the_units(ort_run, tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(SKYLAKE)
    proc = ph.run_make(["perf"], ort_run["artifacts"], ort_run["data"],
                       {**ph.CONFIG, "BACKEND": "openvino", "PRECISION": "bf16", "CPUINFO": str(cpuinfo)}, check=False)
    assert proc.returncode == 2, proc.stderr
    lines = ph.parse_errors(proc)
    assert len(lines) == 1, proc.stderr
    assert "PRECISION=bf16" in lines[0] and "avx512_bf16 or AMX" in lines[0]
    assert "found: avx512_vnni, avx512bw, avx512f, avx512vl" in lines[0] and "Traceback" not in proc.stdout


@pytest.mark.parametrize("text,problem", [(ZEN3, "found: no AVX-512 flags"), (SKYLAKE, "avx512f, avx512vl)"), (SPR, None)],
                         ids=["zen3", "skylake", "sapphire-rapids"])
def test_bf16_check_reads_the_flags(tmp_path, text, problem):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(text)
    assert precision_problem(["fp32"], cpuinfo) is None
    got = precision_problem(["fp32", "bf16"], cpuinfo)
    assert got is None if problem is None else problem in got
    assert precision_problem(["force_fp16"], cpuinfo) == "PRECISION=force_fp16 is not one of: fp32 bf16; BACKEND=openvino takes these"


def test_interrupted_inference_resumes_to_the_uninterrupted_predictions(ort_run, ov_run, tmp_path):
    arts = ph.copy_tree(ov_run["artifacts"], tmp_path / "artifacts", skip={"preds", "reports", "perf"})
    variables = {**ph.CONFIG, "BACKEND": "openvino"}
    log = tmp_path / "make.log"
    proc = ph.start_make(["all"], arts, ort_run["data"], variables, log=log)
    first = arts / "preds" / ph.OV_RUN
    sent = ph.kill_when(proc, lambda: first.is_dir() and any(first.glob("*_0.bin")), signal.SIGKILL)
    assert sent and proc.returncode != 0, log.read_text()[-3000:]
    assert not (arts / "preds" / f"{ph.OV_RUN}_summary.json").exists() or \
        len(ph.read_json(arts / "preds" / f"{ph.OV_RUN}_summary.json")["filesinfo"]) == ph.N_IMAGES
    ph.run_make(["all"], arts, ort_run["data"], variables)
    assert ph.pred_files(arts, ph.OV_RUN) == ph.pred_files(ov_run["artifacts"], ph.OV_RUN)
    assert ph.read_json(ph.report_path(arts, ph.OV_RUN))["mIoU"] == ov_run["report"]["mIoU"]
    assert not list(first.glob(".*"))


@pytest.mark.skipif(not bf16_units(read_flags()), reason="this CPU has no avx512_bf16 or AMX")
def test_reproduce_fp32_and_bf16_rows_with_label_agreement(ov_run, ort_run, tmp_path):
    arts = ph.copy_tree(ov_run["artifacts"], tmp_path / "artifacts")
    variables = {**ph.CONFIG, "BACKEND": "openvino", "BS_LIST": "4", "PRECISIONS": "fp32 bf16", "LOOP": "1"}
    proc = ph.run_make(["reproduce"], arts, ort_run["data"], variables)
    result = ph.read_json(next((arts / "reports").glob("reproduce_openvino-cpu_*")) / "reproduce.json")
    rows = {r["precision"]: r for r in result["rows"]}
    assert sorted(rows) == ["bf16", "fp32"] and all(r["status"] == "ok" for r in rows.values())
    assert rows["fp32"]["label_agreement_vs_fp32"] == 1.0 and rows["fp32"]["mIoU"] == ov_run["report"]["mIoU"]
    # reference: the two runs' label files compared here, pixel by pixel
    fp32 = ph.pred_files(arts, ph.OV_RUN)
    bf16 = ph.pred_files(arts, ph.OV_RUN.replace("_fp32_", "_bf16_"))
    same = sum(int((np.frombuffer(fp32[n], np.int32) == np.frombuffer(bf16[n], np.int32)).sum()) for n in fp32)
    assert rows["bf16"]["label_agreement_vs_fp32"] == same / (len(fp32) * ph.H * ph.W) > 0.5
    assert "| openvino/cpu |" in proc.stdout and "| bf16 | 4 |" in proc.stdout and "labels = fp32 row's:" in proc.stdout
