"""Issue 25 §7: the multi-device and atc-host edges, computed by hand from the documented rules."""
from __future__ import annotations

from semask.backends.ascend.atc_host import failure_hint, te_parallel
from semask.backends.ascend.multidevice import DIVIDE, SPLIT, empty_devices_problem


def test_2023_splitter_leaves_devices_empty():
    # 10 frames on 8 chips: ceil(10/8) = 2 each, in turn -> chips 0-4 get 2, chips 5, 6, 7 none
    line = empty_devices_problem(10, list(range(8)), SPLIT)
    assert line == ("10 frame(s) on 8 devices: this ais_bench (2023-06) gives each device ceil(10/8) = 2 frames in "
                    "turn, so device(s) 5,6,7 would get none and the run fails; use DEVICE=0,1,2,3,4, or more frames "
                    "(LIMIT)")
    assert empty_devices_problem(7, [0, 1], SPLIT) is None  # 4 + 3
    assert empty_devices_problem(10, list(range(8)), DIVIDE) is None  # the 2024+ split gives each at least one


def test_compile_workers_and_exit_status():
    assert te_parallel({}, cores=4)[0]["TE_PARALLEL_COMPILER"] == "3"  # int(4 * 0.8)
    assert te_parallel({}, cores=32)[0]["TE_PARALLEL_COMPILER"] == "8"  # atc's default is the cap
    assert te_parallel({}, cores=8, chips=2)[0]["TE_PARALLEL_COMPILER"] == "3"  # int(6.4) // 2
    env, line = te_parallel({"TE_PARALLEL_COMPILER": "2"}, cores=64)
    assert env["TE_PARALLEL_COMPILER"] == "2" and line == "atc: TE_PARALLEL_COMPILER=2 (from the environment)"
    assert failure_hint(-9) == ("atc was killed by SIGKILL (out of host memory? the kernel's OOM killer sends SIGKILL); "
                                "its detailed log is under ~/ascend/log (debug/plog)")
    assert failure_hint(1) == "exit code 1; atc's detailed log is under ~/ascend/log (debug/plog)"


def test_recipes_source_set_env_like_the_parse_time_check(tmp_path):
    """The Ascend steps' prefix (what make runs before each Ascend step), under the recipes' shell flags: a failing
    line inside set_env.sh does not kill the step; a non-zero final status is one error line naming the script."""
    import subprocess

    from semask.backends.ascend.backend import AscendBackend

    script = tmp_path / "set_env's dir" / "set_env.sh"
    script.parent.mkdir()
    script.write_text("export BEFORE=1\nfalse\nexport AFTER=1\n")
    prefix = AscendBackend().step_prefix({"ASCEND_SET_ENV": str(script)})
    ok = subprocess.run(["bash", "-eu", "-o", "pipefail", "-c", prefix + ' echo "survived $BEFORE $AFTER"'],
                        capture_output=True, text=True)
    assert ok.returncode == 0 and ok.stdout == "survived 1 1\n", ok.stderr
    script.write_text("export BEFORE=1\nfalse\n")
    bad = subprocess.run(["bash", "-eu", "-o", "pipefail", "-c", prefix + " echo survived"], capture_output=True,
                         text=True)
    assert bad.returncode == 1 and bad.stdout == ""
    assert bad.stderr == (f"error: ASCEND_SET_ENV={script} exited with code 1 when sourced; fix the script or point "
                          "ASCEND_SET_ENV at the CANN toolkit's set_env.sh\n")
