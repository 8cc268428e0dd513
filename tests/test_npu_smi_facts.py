"""Issue 25 §4: npu-smi is a source of facts, not a gatekeeper; device ids follow ACL's numbering.

The npu-smi stand-in prints the driver 24.x Duo layout, a container's view (the host's ids), `info -m`, and fails the
way it does in containers (`dcmi module initialize failed. ret is -8005`, exit 255). Expected chips are transcribed
from the published npu-smi tables (docs/ASCEND_HOST.md), not computed by the kit.
"""
from __future__ import annotations

import pytest

import pipeline_helpers as ph
from semask.backends.ascend.devices import Chip, chips_for_run, npu_smi_chips, parse_npu_smi_map
from semask.core.errors import KitError

DUO_24 = """\
| 0       310P3                 | OK              | NA           42                0     / 0             |
| 0       0                     | 0000:82:00.0    | 0            1782 / 21534                            |
+===============================+=================+======================================================+
| 0       310P3                 | OK              | NA           42                0     / 0             |
| 1       1                     | 0000:82:00.0    | 0            1781 / 21534                            |
"""
MAP = """\
\tNPU ID                         Chip ID                        Chip Logic ID                  Chip Name
\t4                              0                              4                              Ascend 310P3
\t4                              1                              5                              Ascend 310P3
\t4                              2                              -                              Mcu
"""


def test_driver_24_duo_layout(standin_log, monkeypatch):
    monkeypatch.setenv("STANDIN_NPU_CARDS", "2")
    monkeypatch.setenv("STANDIN_NPU_DRIVER", "24")
    assert npu_smi_chips({}) == [Chip(0, "310P3", 0, 0), Chip(0, "310P3", 1, 1)]


def test_container_view_is_renumbered_from_zero(standin_log, monkeypatch):
    monkeypatch.setenv("STANDIN_NPU_CARDS", "2")
    monkeypatch.setenv("STANDIN_NPU_HOST_FIRST", "4")
    assert npu_smi_chips({}) == [Chip(4, "310P3", 0, 0, host=4), Chip(4, "310P3", 1, 1, host=5)]
    assert parse_npu_smi_map(MAP) == [Chip(4, "310P3", 0, 4), Chip(4, "310P3", 1, 5)]


def test_visible_devices_pick_and_order_the_chips(standin_log, monkeypatch):
    monkeypatch.setenv("STANDIN_NPU_CARDS", "1,1,1")
    assert npu_smi_chips({"ASCEND_RT_VISIBLE_DEVICES": "2,1"}) == [Chip(2, "310P3", 0, 0, host=2),
                                                                    Chip(1, "310P3", 0, 1)]  # same id: no host
    assert npu_smi_chips({"ASCEND_VISIBLE_DEVICES": "1"}) == [Chip(1, "310P3", 0, 0, host=1)]


def test_failing_npu_smi_warns_with_a_soc_and_refuses_without(standin_log, monkeypatch):
    monkeypatch.setenv("STANDIN_NPU_SMI_FAIL", "1")
    chips, warning = chips_for_run("Ascend310P3")
    assert chips is None and warning.startswith("warning: `npu-smi info` failed (exit 255): dcmi module initialize "
                                                "failed. ret is -8005; ")
    assert "usermod -aG HwHiAiUser $USER" in warning and "\n" not in warning
    with pytest.raises(KitError, match=r"ret is -8005; .*pass SOC=Ascend310P3 \(or your chip\) instead of SOC=auto"):
        chips_for_run("auto")


def test_soc_given_and_npu_smi_failing_runs_to_the_score(tmp_path_factory):
    single = ph.shared_ascend(tmp_path_factory)
    base = tmp_path_factory.mktemp("npu_smi_fails")
    arts = ph.copy_tree(single["artifacts"], base / "artifacts", skip=("preds", "reports", "perf"))
    env = ph.ascend_env(base / "log", single["env"]["ASCEND_SET_ENV"], {"STANDIN_NPU_SMI_FAIL": "1"})
    r = ph.run_make(["all"], arts, single["data"], {**ph.CONFIG, "BACKEND": "ascend", "SOC": ph.SOC}, env=env)
    warnings = [ln for ln in r.stderr.splitlines() if ln.startswith("warning:")]
    assert len(warnings) == 1 and "dcmi module initialize failed. ret is -8005" in warnings[0], r.stderr
    report = ph.read_json(ph.report_path(arts, ph.ASCEND_RUN))
    assert report["mIoU"] == single["report"]["mIoU"]
