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
    """atc compiles of the shared `make all` (other test files add runs to the same stand-in log later)."""
    return [a for a in ph.standin_calls(run["log"], "atc", last=run["all_calls"])
            if a[1:] != ["--version"] and not any(x.startswith("--mode=") for x in a)]


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
    sim = (arts / "onnx" / f"{ph.STEM}_sim_atc.onnx").resolve()  # the ATC-friendly copy of _sim.onnx
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
    bins = str(arts / "bins" / ph.BINS_NAME)
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
    row = next(r for r in out.splitlines() if f"| ascend/ais_bench | {ph.SOC} |" in r and "published" not in r)
    assert [c.strip() for c in row.strip("|").split("|")][3:] == [
        "- (no data: perf loop)", "ascend/ais_bench", ph.SOC, "force_fp16", str(ph.BS), "-",
        f"{perf['throughput']:.2f}", f"{perf['throughput']:.2f}", str(perf_json)]
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
    row = next(r for r in run["all"].stdout.splitlines() if f"| ascend/ais_bench | {ph.SOC} |" in r and "published" not in r)
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[3:9] == [f"synthetic ({ph.N_IMAGES})", "ascend/ais_bench", ph.SOC, "force_fp16", str(ph.BS),
                          f"{report['mIoU']:.2f}"]
    assert cells[9] == f"{summary['throughput']:.2f}"
    md = (run["artifacts"] / "reports" / f"{ph.ASCEND_RUN}.md").read_text()
    assert "written by ais_bench" in md


def test_second_make_all_on_ascend_runs_nothing(run):
    before = len(run["log"].read_text().splitlines())
    q = ph.run_make(["all"], run["artifacts"], run["data"], run["vars"], env=run["env"], flags=["-q"], check=False)
    assert q.returncode == 0, q.stdout + q.stderr
    after = [json.loads(x) for x in run["log"].read_text().splitlines()[before:]]
    # parse-time detection only (ais_bench --help, npu-smi info, atc --version); no compile, no inference
    assert all(c["argv"][1:] in (["info"], ["--version"]) or c["argv"][3:] == ["--help"] for c in after), after


def test_ascend_outputs_have_the_modes_ais_bench_wants(run):
    """The newest ais_bench refuses an --output beyond 0o750; the kit's Ascend steps write 0750/0640."""
    arts = run["artifacts"]
    mode = lambda p: oct(p.stat().st_mode & 0o777)  # noqa: E731
    assert mode(arts / "preds") == "0o750" and mode(arts / "preds" / ph.ASCEND_RUN) == "0o750"
    assert {mode(p) for p in (arts / "preds" / ph.ASCEND_RUN).iterdir()} == {"0o640"}
    assert mode(arts / "preds" / f"{ph.ASCEND_RUN}_summary.json") == "0o640"
    assert mode(arts / "om") == "0o750" and {mode(p) for p in (arts / "om").iterdir()} == {"0o640"}
    bins = arts / "bins" / ph.BINS_NAME
    assert mode(bins) == "0o750" and {mode(p) for p in bins.glob("*.bin")} == {"0o640"}
    assert {mode(p) for p in (arts / "perf").glob("*_loop3.json")} == {"0o640"}


def test_atc_graph_and_placement_recorded_and_warned(run):
    arts = run["artifacts"]
    atc_side = ph.read_json(arts / "onnx" / f"{ph.STEM}_sim_atc.json")
    assert atc_side["ascend_graph"]["resize_half_pixel_to_pytorch_half_pixel"] == {"rewritten": 7, "kept": []}
    assert atc_side["ascend_graph"]["gather_indices_int32"]["converted"] > 0
    assert atc_side["verification"]["confident_label_mismatches"] == 0
    # the ORT path's graph is untouched: still torch 2's half_pixel
    import onnx
    sim = onnx.load(str(arts / "onnx" / f"{ph.STEM}_sim.onnx"))
    modes = [a.s for n in sim.graph.node if n.op_type == "Resize" for a in n.attribute
             if a.name == "coordinate_transformation_mode"]
    assert modes == [b"half_pixel"] * 7
    om_side = ph.read_json(arts / "om" / f"{ph.STEM}_{ph.SOC}_force_fp16.json")
    # the recorded fixture (tests/fixtures/atc_om_semask_reduced.json): 9 AI Core, 1 AI CPU, 3 other
    placement = om_side["placement"]
    assert (placement["ai_core"], placement["ai_cpu"], placement["other"]) == (9, 1, 3)
    assert placement["ai_cpu_ops"] == [{"name": "/ArgMax", "type": "ArgMaxV2", "kernel_lib": "aicpu_ascend_kernel"}]
    assert any(c[1] == "--mode=1" and c[2].startswith("--om=") and c[3].startswith("--json=")
               for c in ph.standin_calls(run["log"], "atc"))
    assert "op placement: 9 AI Core, 1 AI CPU, 3 other; on AI CPU: /ArgMax (ArgMaxV2)" in run["all"].stdout
    warning = "WARNING: 1 op(s) of this .om run on AI CPU"
    assert warning in run["all"].stdout and warning in run["perf"].stdout
