"""Issue 20: DEVICE takes a list (ais_bench's own multi-device mode) and `all`; a Duo card is one NPU with two chips.

The references are literal: the Duo rows of `npu-smi info` as `npu-smi info` prints them, the per-device folder
names of each ais_bench era, hand-written per-device summaries, and the single-device run's own predictions.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import pipeline_helpers as ph

STANDINS = Path(__file__).parent / "standins"
sys.path.insert(0, str(STANDINS))
import tiny_onnx  # noqa: E402

from semask.backends.ascend import devices  # noqa: E402
from semask.core.errors import KitError  # noqa: E402
from semask.backends.ascend import multidevice as multi, toolchain as ascend  # noqa: E402

# An Atlas 300I Duo card (header lines from the npu-smi stand-in's layout)
DUO = """\
| NPU     Name                  | Health          | Power(W)     Temp(C)           Hugepages-Usage(page) |
| Chip    Device                | Bus-Id          | AICore(%)    Memory-Usage(MB)                        |
+===============================+=================+======================================================+
| 0       310P3     | OK              | 16.8         53                0    / 0              |
| 0       0         | 0000:86:00.0    | 0            944  / 21534                            |
| 1       1         | 0000:86:00.0    | 0            931  / 21534                            |
"""


def test_duo_card_rows_are_two_chips_of_one_npu():
    chips = devices.parse_npu_smi_chips(DUO)
    assert chips == [devices.Chip(0, "310P3", 0, 0), devices.Chip(0, "310P3", 1, 1)]
    assert ascend.parse_chip_name(DUO, 1) == "310P3"


@pytest.mark.parametrize("value, needles", [
    ("0,0", ["DEVICE=0,0: device 0 is listed twice"]),
    ("0,7", ["DEVICE=0,7: device 7 is not a chip npu-smi lists; the chips npu-smi lists: 0 (310P3, NPU 0 chip 0), "
             "1 (310P3, NPU 0 chip 1)"]),
    ("1,256,x", ["DEVICE=1,256,x: 256 is not a device id 0-255", "DEVICE=1,256,x: 'x' is not a device id 0-255"]),
])
def test_every_device_mistake_is_one_line(value, needles):
    with pytest.raises(devices.DeviceError) as err:
        devices.resolve_devices(value, devices.parse_npu_smi_chips(DUO))
    assert err.value.lines == [next(ln for ln in err.value.lines if n in ln) for n in needles]


def test_all_and_lists_resolve():
    chips = devices.parse_npu_smi_chips(DUO)
    assert devices.resolve_devices("all", chips) == [0, 1]
    assert devices.resolve_devices("1,0", chips) == [1, 0]
    assert devices.resolve_devices("3", use_npu_smi=False) == [3]
    with pytest.raises(devices.DeviceError, match="DEVICE=all needs `npu-smi info`"):
        devices.resolve_devices("all", None, use_npu_smi=False)
    with pytest.raises(KitError, match="DEVICE=0,1 is a device list, which BACKEND=ort does not take"):
        devices.check_single_device("0,1")
    assert devices.check_single_device("2") == 2


def _device_run(run: Path, name: str, frames: list, inputs: list) -> None:
    """A hand-written per-device folder + summary, as ais_bench writes them."""
    (run / name).mkdir(parents=True)
    info = {"filesinfo": {}, "npu_compute_time_list": [1.0]}
    for j, i in enumerate(frames):
        (run / name / f"f_{i}_0.bin").write_bytes(bytes([i]))
        info["filesinfo"][str(j)] = {"infiles": [inputs[i]], "outfiles": [f"/x/{name}/f_{i}_0.bin"]}
    (run / f"{name}_summary.json").write_text(json.dumps(info))


def test_merge_refuses_a_frame_predicted_twice_or_never(tmp_path):
    inputs = [f"/in/f_{i}.bin" for i in range(3)]
    dup = tmp_path / "dup"
    _device_run(dup, "device0_0", [0, 1], inputs)
    _device_run(dup, "device1_1", [1, 2], inputs)  # what 2025-12 does without --divide_input: frame 1 twice
    with pytest.raises(KitError, match=r"f_1.bin predicted twice \(device 0 and device 1\)"):
        multi.merge_device_runs(dup, [0, 1], inputs, "/out/run")
    gap = tmp_path / "gap"
    _device_run(gap, "device0", [0], inputs)
    _device_run(gap, "device1", [], inputs)
    with pytest.raises(KitError, match=r"2 frame\(s\) predicted by no device: f_1.bin, f_2.bin"):
        multi.merge_device_runs(gap, [0, 1], inputs, "/out/run")
    ok = tmp_path / "ok"
    _device_run(ok, "device0_0", [0, 1], inputs)
    _device_run(ok, "device1", [2], inputs)  # the 2023-06 folder name
    merged = multi.merge_device_runs(ok, [0, 1], inputs, "/out/run")
    assert [e["outfiles"] for e in merged["filesinfo"].values()] == [[f"/out/run/f_{i}_0.bin"] for i in range(3)]
    assert sorted(p.name for p in ok.iterdir()) == ["f_0_0.bin", "f_1_0.bin", "f_2_0.bin"]
    assert [(d["device"], d["frames"], d["folder"]) for d in merged["per_device"]] == [(0, 2, "device0_0"),
                                                                                        (1, 1, "device1")]


@pytest.fixture(scope="module")
def tiny_om(tmp_path_factory):
    d = tmp_path_factory.mktemp("multi")
    return d, tiny_onnx.make_model(d / "tiny_bs4.onnx", 4)


@pytest.mark.parametrize("era, folder", [("2023-06", "device1"), ("2025-12", "device1_1")])
def test_each_era_split_is_one_run(tiny_om, standin_log, tmp_path, monkeypatch, era, folder):
    import numpy as np

    monkeypatch.setenv("STANDIN_AIS_ERA", era)
    om = tmp_path / "om" / "tiny.om"
    ascend.compile_om(ascend.AtcJob(tiny_om[1], om, 4, tiny_onnx.H, tiny_onnx.W, "Ascend310P3"))
    bins = tmp_path / "bins"
    bins.mkdir()
    for i in range(6):
        np.random.default_rng(i).random((1, 3, tiny_onnx.H, tiny_onnx.W)).astype(np.float32).tofile(bins / f"f_{i}.bin")
    one = ascend.ais_infer(ascend.AisInferJob(om, bins, tmp_path / "preds", "one", 4, [0]))
    two = ascend.ais_infer(ascend.AisInferJob(om, bins, tmp_path / "preds", "two", 4, [0, 1]))
    calls = [json.loads(x)["argv"] for x in standin_log.read_text().splitlines() if json.loads(x)["tool"] == "ais_bench"]
    run_calls = [c for c in calls if "--help" not in c]
    want = ["--device", "0,1"] + (["--divide_input", "1"] if era >= "2024" else [])
    assert run_calls[-1][-len(want):] == want and run_calls[0][-2:] == ["--device", "0"]
    for name in [f"f_{i}_0.bin" for i in range(6)]:
        assert (tmp_path / "preds" / "two" / name).read_bytes() == (tmp_path / "preds" / "one" / name).read_bytes()
    assert sorted(p.name for p in (tmp_path / "preds").iterdir()) == [
        "one", "one_manifest.json", "one_summary.json", "two", "two_manifest.json", "two_summary.json"]
    assert [d["frames"] for d in two["per_device"]] == [3, 3] and two["per_device"][1]["folder"] == folder
    assert two["throughput"] == pytest.approx(sum(d["throughput"] for d in two["per_device"]))
    assert [e["infiles"][0] for e in two["filesinfo"].values()] == [e["infiles"][0] for e in one["filesinfo"].values()]


def test_2022_era_has_no_multi_device_mode(tiny_om, standin_log, tmp_path, monkeypatch):
    monkeypatch.setenv("STANDIN_AIS_ERA", "2022-11")
    om = tmp_path / "om" / "tiny.om"
    ascend.compile_om(ascend.AtcJob(tiny_om[1], om, 4, tiny_onnx.H, tiny_onnx.W, "Ascend310P3"))
    with pytest.raises(KitError, match=r"DEVICE=0,1: this ais_bench \(ais_bench 0.0.2 \(ais_bench\), aclruntime 0.0.2, "
                                       r"in .*\) has no multi-device mode"):
        ascend.ais_perf(om, 4, 3, [0, 1])


# ------------------------------------------------------------------ make, through the stand-ins (a Duo card)
@pytest.fixture(scope="module")
def duo(tmp_path_factory):
    single = ph.shared_ascend(tmp_path_factory)
    base = tmp_path_factory.mktemp("duo")
    arts = ph.copy_tree(single["artifacts"], base / "artifacts", skip=("preds", "reports", "perf", "om"))
    log = base / "standin.log"
    env = ph.ascend_env(log, single["env"]["ASCEND_SET_ENV"], {"STANDIN_NPU_CARDS": "2"})
    variables = {**ph.CONFIG, "BACKEND": "ascend", "SOC": "auto", "DEVICE": "all"}
    all_proc = ph.run_make(["all"], arts, single["data"], variables, env=env)
    perf_proc = ph.run_make(["perf"], arts, single["data"], {**variables, "DEVICE": "0,1", "LOOP": "3"}, env=env)
    return {"single": single, "artifacts": arts, "log": log, "env": env, "all": all_proc, "perf": perf_proc}


def test_make_all_on_two_chips_equals_one_chip(duo):
    single, arts = duo["single"], duo["artifacts"]
    report = ph.read_json(ph.report_path(arts, ph.ASCEND_RUN))
    assert report["mIoU"] == single["report"]["mIoU"] and report["per_class"] == single["report"]["per_class"]
    assert ph.pred_files(arts, ph.ASCEND_RUN) == ph.pred_files(single["artifacts"], ph.ASCEND_RUN)
    summary = ph.read_json(arts / "preds" / f"{ph.ASCEND_RUN}_summary.json")
    infiles = [e["infiles"][0] for e in summary["filesinfo"].values()]
    assert len(infiles) == len(set(infiles)) == ph.N_IMAGES  # every frame once
    assert summary["devices"] == [0, 1] and [d["frames"] for d in summary["per_device"]] == [4, 3]
    assert sorted(p.name for p in (arts / "preds").iterdir()) == [ph.ASCEND_RUN, f"{ph.ASCEND_RUN}_manifest.json",
                                                                 f"{ph.ASCEND_RUN}_summary.json"]
    compiles = [a for a in ph.standin_calls(duo["log"], "atc") if a[1:] != ["--version"]
                and not any(x.startswith("--mode=") for x in a)]
    assert len(compiles) == 1 and f"--soc_version={ph.SOC}" in compiles[0]  # one OM for both chips
    runs = [a for a in ph.standin_calls(duo["log"], "ais_bench") if "--help" not in a]
    assert runs[0][-4:] == ["--device", "0,1", "--divide_input", "1"]  # DEVICE=all: both chips of the Duo card


def test_make_perf_on_two_chips_records_both_and_the_sum(duo):
    arts = duo["artifacts"]
    perf_json = arts / "perf" / f"{ph.ASCEND_RUN}_loop3_dev0-1.json"
    perf = ph.read_json(perf_json)
    out = duo["perf"].stdout
    [summary_line] = [ln for ln in out.splitlines() if "summary throughput:" in ln]
    device_lines = [ln for ln in out.splitlines() if " device_" in ln and "throughput:" in ln]
    assert perf["devices"] == [0, 1] and perf["throughput"] == float(summary_line.split("throughput:")[1])
    assert [(d["index"], d["device"]) for d in perf["per_device"]] == [(0, 0), (1, 1)]
    assert [d["throughput"] for d in perf["per_device"]] == [
        float(ln.split("throughput:")[1].split()[0]) for ln in device_lines]
    row = next(r for r in out.splitlines() if "| ascend/ais_bench |" in r and "published" not in r)
    assert f"| {ph.SOC} x2 |" in row


@pytest.mark.parametrize("variables, cards, needle", [
    ({"BACKEND": "ascend", "DEVICE": "0,0"}, "1,1", "error: DEVICE=0,0: device 0 is listed twice"),
    ({"BACKEND": "ascend", "DEVICE": "0,7"}, "1,1",
     "error: DEVICE=0,7: device 7 is not a chip npu-smi lists; the chips npu-smi lists: 0 (310P3, NPU 0 chip 0), "
     "1 (310P3, NPU 1 chip 0)"),
    ({"BACKEND": "ort", "DEVICE": "0,1"}, "1,1", "error: DEVICE=0,1 is a device list, which BACKEND=ort does not take"),
])
def test_make_refuses_a_bad_device_list_in_one_line(tmp_path, variables, cards, needle):
    env = ph.ascend_env(tmp_path / "log", ph.harmless_set_env(tmp_path), {"STANDIN_NPU_CARDS": cards})
    arts = tmp_path / "arts"
    r = ph.run_make(["all"], arts, tmp_path / "data", {**ph.CONFIG, **variables}, env=env, check=False)
    errors = [ln for ln in r.stderr.splitlines() if ln.startswith("error:")]
    assert r.returncode != 0 and len(errors) == 1 and errors[0].startswith(needle), r.stderr
    assert not (arts / "preds").exists()


def test_make_reproduce_carries_the_device_list(duo):
    single = duo["single"]
    variables = {**ph.CONFIG, "BACKEND": "ascend", "SOC": "auto", "DEVICE": "0,1", "LOOP": "3", "BS_LIST": str(ph.BS)}
    ph.run_make(["reproduce"], duo["artifacts"], single["data"], variables, env=duo["env"])
    folder = duo["artifacts"] / "reports" / f"reproduce_ascend-{ph.SOC}_reduced_{ph.WTAG}_{ph.H}x{ph.W}_float32_{ph.data_tag(duo['single']['data'])}_first{ph.N_IMAGES}_dev0-1"
    [row] = ph.read_json(folder / "reproduce.json")["rows"]
    assert row["perf"].endswith(f"{ph.ASCEND_RUN}_loop3_dev0-1.json") and row["labels"]["chip"] == f"{ph.SOC} x2"
    assert ph.read_json(Path(row["perf"]))["devices"] == [0, 1]
