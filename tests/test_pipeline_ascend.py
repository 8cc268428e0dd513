"""End to end on the Ascend path through the stand-ins (tests/standins: atc, npu-smi, python -m ais_bench):
BACKEND=auto must pick ascend and SOC=auto must read 310P3 from npu-smi; `make all` then `make perf LOOP=3`.
Checks the exact atc and ais_bench command lines, the .om name, the parsed throughput and the tables, and
that the mIoU (and every prediction byte) equals the ORT path's."""
import json

import pytest

import pipeline_helpers as ph


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return ph.shared_ascend(tmp_path_factory)


def _compile_calls(run):
    return [a for a in ph.standin_calls(run["log"], "atc") if a[1:] != ["--version"]]


def test_auto_picks_ascend_and_soc_from_npu_smi(run):
    assert "BACKEND=auto: CANN set_env.sh at" in run["all"].stderr and "using Ascend" in run["all"].stderr
    assert ["npu-smi", "info"] in ph.standin_calls(run["log"], "npu-smi")
    env_json = ph.read_json(run["artifacts"] / "env" / "env_ascend.json")
    assert isinstance(env_json, dict)
    # recipes that call the vendor tools source ASCEND_SET_ENV first
    assert f". '{run['env']['ASCEND_SET_ENV']}'" in run["all"].stdout


def test_atc_command_line_and_om_name(run):
    arts = run["artifacts"]
    om = arts / "om" / f"{ph.STEM}_{ph.SOC}_force_fp16.om"
    [argv] = _compile_calls(run)
    stem = argv[3].split("=", 1)[1]
    assert stem.endswith(f"/{om.stem}") and f"/om/.{om.stem}.atc-" in stem  # scratch folder beside the .om
    sim = (arts / "onnx" / f"{ph.STEM}_sim.onnx").resolve()
    assert argv == ["atc", "--framework=5", f"--model={sim}", f"--output={stem}", "--input_format=NCHW",
                    f"--input_shape=image:{ph.BS},3,{ph.H},{ph.W}", f"--soc_version={ph.SOC}",
                    "--precision_mode=force_fp16", "--log=error"]
    assert om.is_file()
    side = ph.read_json(om.with_suffix(".json"))
    assert side["soc_version"] == ph.SOC and side["precision_mode"] == "force_fp16"
    assert side["soc_source"] == "npu-smi"  # SOC=auto is recorded as read from the chip, not as given
    assert side["batch_size"] == ph.BS and not list((arts / "om").glob(".*atc-*"))


def test_ais_bench_infer_and_perf_argv(run):
    arts = run["artifacts"]
    om = str(arts / "om" / f"{ph.STEM}_{ph.SOC}_force_fp16.om")
    bins = str(arts / "bins" / f"{ph.H}x{ph.W}_float32_first{ph.N_IMAGES}")
    calls = [a for a in ph.standin_calls(run["log"], "ais_bench") if a[3:] != ["--help"]]
    assert len(calls) == 2
    infer, perf = calls
    assert infer[1:3] == ["-m", "ais_bench"] and infer[0].endswith("python")
    name = infer[infer.index("--output_dirname") + 1]
    assert name.startswith(f"{ph.ASCEND_RUN}.partial-")  # published under ASCEND_RUN once complete
    assert infer[3:] == ["--model", om, "--input", bins, "--output", str(arts / "preds"), "--output_dirname", name,
                         "--outfmt", "BIN", "--batchsize", str(ph.BS), "--device", "0"]
    assert perf[3:] == ["--model", om, "--loop", "3", "--batchsize", str(ph.BS), "--device", "0"]
    assert sorted(p.name for p in (arts / "preds").iterdir()) == [ph.ASCEND_RUN, f"{ph.ASCEND_RUN}_manifest.json",
                                                                 f"{ph.ASCEND_RUN}_summary.json"]


def test_perf_json_throughput_and_table(run):
    arts = run["artifacts"]
    perf_json = arts / "perf" / f"{ph.ASCEND_RUN}_loop3.json"
    perf = ph.read_json(perf_json)
    out = run["perf"].stdout
    printed = [ln for ln in out.splitlines() if "throughput 1000*batchsize" in ln]
    assert len(printed) == 1 and perf["throughput"] == float(printed[0].split()[-1])
    assert perf["throughput"] == pytest.approx(1000 * ph.BS / perf["npu_compute_time"]["mean"])
    assert perf["soc_version"] == ph.SOC and perf["loop"] == 3 and perf["batch_size"] == ph.BS
    row = next(r for r in out.splitlines() if r.startswith(f"| {ph.SOC} |"))
    assert [c.strip() for c in row.strip("|").split("|")] == [
        ph.SOC, "ascend/ais_bench", str(ph.BS), "-", "-", f"{perf['throughput']:.2f}", str(perf_json)]
    prov = ph.read_json(perf_json.with_name(perf_json.stem + ".provenance.json"))
    assert prov["backend"] == "ascend" and prov["variables"]["SOC"] == ph.SOC and prov["variables"]["LOOP"] == "3"


def test_all_table_and_same_miou_and_bytes_as_ort(run, tmp_path_factory):
    ort = ph.shared_ort(tmp_path_factory)
    report = run["report"]
    assert report["mIoU"] == ort["report"]["mIoU"] and report["aAcc"] == ort["report"]["aAcc"]
    assert report["per_class"] == ort["report"]["per_class"]
    assert report["num_images"] == ph.N_IMAGES
    assert ph.pred_files(run["artifacts"], ph.ASCEND_RUN) == ph.pred_files(ort["artifacts"], ph.ORT_RUN)
    summary = ph.read_json(run["artifacts"] / "preds" / f"{ph.ASCEND_RUN}_summary.json")
    assert summary["backend"] == "ascend" and all(
        f"/{ph.ASCEND_RUN}/" in e["outfiles"][0] for e in summary["filesinfo"].values())
    row = next(r for r in run["all"].stdout.splitlines() if r.startswith(f"| {ph.SOC} |"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[:5] == [ph.SOC, "ascend/ais_bench", str(ph.BS), f"Cityscapes val subset ({ph.N_IMAGES} images)",
                         f"{report['mIoU']:.2f}"]
    assert cells[5] == f"{summary['throughput']:.2f}"


def test_second_make_all_on_ascend_runs_nothing(run):
    before = len(run["log"].read_text().splitlines())
    q = ph.run_make(["all"], run["artifacts"], run["data"], run["vars"], env=run["env"], flags=["-q"], check=False)
    assert q.returncode == 0, q.stdout + q.stderr
    after = [json.loads(x) for x in run["log"].read_text().splitlines()[before:]]
    # parse-time detection only (ais_bench --help, npu-smi info, atc --version); no compile, no inference
    assert all(c["argv"][1:] in (["info"], ["--version"]) or c["argv"][3:] == ["--help"] for c in after), after
