"""PRECISION=int8 with BACKEND=openvino, real NNCF and OpenVINO on the reduced model: `make all perf` gives an
mIoU row and the logit SQNR against fp32; a CPU without VNNI is refused in one line (a cpuinfo text stands
in for the CPU); the IR is rebuilt when its calibration set changes (another CALIB, another frame); an
interrupted quantisation leaves nothing taken as done and the next make finishes it. (The reproduce row's
label agreement and logit SQNR: test_openvino's reproduce test, which adds int8 on a CPU with VNNI.)"""
import hashlib
import json
import shutil
import signal

import pytest

import pipeline_helpers as ph
from semask.backends.openvino.quantize import QuantSpec, build
from semask.core.cpuflags import int8_units, precision_problem, read_flags

pytestmark = pytest.mark.skipif(not int8_units(read_flags()), reason="this CPU has no avx512_vnni, avx_vnni or amx_int8")
SKYLAKE_NO_VNNI = "processor\t: 0\nflags\t\t: fpu sse2 avx avx2 avx512f avx512bw avx512vl avx512_bf16\n"
ICELAKE = "processor\t: 0\nflags\t\t: avx2 avx512f avx512bw avx512vl avx512_vnni\n"
ALDER = "processor\t: 0\nflags\t\t: avx2 avx_vnni\n"
INT8 = {**ph.CONFIG, "BACKEND": "openvino", "PRECISION": "int8", "CALIB": "3"}


def int8_run() -> str:
    return ph.OV_RUN.replace("_fp32_", "_int8_")


def sidecar(arts, calib=3):
    tag = ph.bins_name(ph._SHARED["data"]).split("_", 2)[2]  # d<hash>_first7
    return arts / "onnx" / f"{ph.STEM}_int8_c{calib}_{tag}.json"


@pytest.fixture(scope="module")
def ort_run(tmp_path_factory):
    return ph.shared_ort(tmp_path_factory)


@pytest.fixture(scope="module")
def int8(ort_run, tmp_path_factory):
    """`make all perf LOOP=1 BACKEND=openvino PRECISION=int8 CALIB=3` on a copy of the ORT run's tree."""
    arts = ph.copy_tree(ort_run["artifacts"], tmp_path_factory.mktemp("int8") / "artifacts", skip={"preds", "reports"})
    proc = ph.run_make(["all", "perf"], arts, ort_run["data"], {**INT8, "LOOP": "1"})
    return {"artifacts": arts, "proc": proc}


def test_make_all_perf_gives_an_miou_row_and_the_logit_sqnr(int8):
    arts, out = int8["artifacts"], int8["proc"].stdout
    report = ph.read_json(ph.report_path(arts, int8_run()))
    assert 0.0 <= report["mIoU"] <= 100.0
    summary = ph.read_json(arts / "preds" / f"{int8_run()}_summary.json")
    perf = ph.read_json(arts / "perf" / f"{int8_run()}_loop1.json")
    for record in (summary, perf):
        sqnr = record["logit_sqnr"]
        assert sqnr["precision"] == "int8" and sqnr["frames"] == 7 and sqnr["sqnr_db"] >= 20.0 and sqnr["passed"]
        assert record["int8_ir"]["calib_frames"] == 3 and record["int8_ir"]["smooth_quant"] == "off"
    info = ph.read_json(sidecar(arts))
    assert info["calib_files"] == sorted(info["calib_files"])[:3] and info["bins_manifest_sha256"] == hashlib.sha256(
        (arts / "bins" / ph.BINS_NAME / "manifest.json").read_bytes()).hexdigest()
    assert f"_int8_c3_m{info['bins_manifest_sha256'][:8]}.xml" in info["xml"]
    assert "| int8 (logit SQNR" in out and "dB vs fp32)" in out


@pytest.mark.parametrize("text,ok", [(SKYLAKE_NO_VNNI, False), (ICELAKE, True), (ALDER, True)],
                         ids=["no-vnni", "icelake", "avx-vnni"])
def test_int8_check_reads_the_flags(tmp_path, text, ok):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(text)
    got = precision_problem(["fp32", "int8"], cpuinfo)
    assert (got is None) == ok
    if not ok:
        assert "avx512_vnni, avx_vnni or amx_int8" in got and "found: avx512_bf16, avx512bw" in got


def test_int8_is_refused_in_one_line_on_a_cpu_without_vnni(ort_run, tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(SKYLAKE_NO_VNNI)
    proc = ph.run_make(["all"], ort_run["artifacts"], ort_run["data"], {**INT8, "CPUINFO": str(cpuinfo)}, check=False)
    assert proc.returncode == 2
    lines = ph.parse_errors(proc)
    assert len(lines) == 1 and lines[0].startswith("error: PRECISION=int8 needs a CPU with avx512_vnni"), proc.stderr
    assert lines[0].endswith("use PRECISION=fp32 on this machine")


def test_ir_is_rebuilt_when_the_calibration_set_changes(int8, tmp_path):
    arts = int8["artifacts"]
    graph, bins = arts / "onnx" / ph.ORT_ONNX, tmp_path / "bins"
    shutil.copytree(arts / "bins" / ph.BINS_NAME, bins)
    out = tmp_path / "onnx" / sidecar(arts).name
    out.parent.mkdir()
    first = build(QuantSpec(graph, bins, ph.BS, 3, out))
    assert build(QuantSpec(graph, bins, ph.BS, 3, out))["xml_sha256"] == first["xml_sha256"]  # up to date
    # another calibration frame: the first bin gets the fourth's content, and the manifest says so
    manifest = json.loads((bins / "manifest.json").read_text())
    files = manifest["files"]
    shutil.copyfile(bins / files[3]["name"], bins / files[0]["name"])
    files[0]["sha256"] = files[3]["sha256"]
    (bins / "manifest.json").write_text(json.dumps(manifest))
    second = build(QuantSpec(graph, bins, ph.BS, 3, out))
    assert second["bins_manifest_sha256"] != first["bins_manifest_sha256"] and second["xml"] != first["xml"]
    assert sorted(p.name for p in out.parent.glob("*.xml")) == [second["xml"]]  # the old IR is gone
    # another CALIB: another sidecar and IR name
    other = build(QuantSpec(graph, bins, ph.BS, 2, out.with_name(out.name.replace("_c3_", "_c2_"))))
    assert other["calib_frames"] == 2 and "_int8_c2_m" in other["xml"]


def test_interrupted_quantisation_leaves_nothing_done_and_resumes(int8, ort_run, tmp_path):
    arts = ph.copy_tree(int8["artifacts"], tmp_path / "artifacts", skip={"preds", "reports", "perf"})
    for path in arts.glob("onnx/*_int8_*"):
        path.unlink()
    log = tmp_path / "make.log"
    proc = ph.start_make(["all"], arts, ort_run["data"], INT8, log=log)
    sent = ph.kill_when(proc, lambda: "[quantize] NNCF" in log.read_text(), signal.SIGINT)
    assert sent and proc.returncode != 0, log.read_text()[-3000:]
    assert not sidecar(arts).exists() and not list(arts.glob("onnx/*_int8_*")), list(arts.glob("onnx/*"))
    done = ph.run_make(["all"], arts, ort_run["data"], INT8)
    assert "[quantize] NNCF" in done.stdout and sidecar(arts).is_file()
    again = ph.run_make(["all"], arts, ort_run["data"], INT8)
    assert "quantize" not in again.stdout  # make: up to date

