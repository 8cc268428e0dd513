"""During one ORT `make all` from an empty ARTIFACTS, the WEIGHTS file is hashed once (by the run's plan),
read by the export (and by the simplify step's PyTorch check of the graph), and by no later step:
inference, provenance and the report compare sidecars with the sha256 the plan recorded.

The reference is Python's own audit hook (`sys.addaudithook`, event "open"), installed in every process
of the run by a `sitecustomize.py` on a PYTHONPATH this test owns; each open of the weights file is
logged with its process and command line. Nothing of the kit is mocked.
"""
from __future__ import annotations

import shutil

import pipeline_helpers as ph

SITECUSTOMIZE = '''
import os, sys
_weights = os.path.realpath(os.environ["AUDIT_WEIGHTS"])
_log = os.environ["AUDIT_LOG"]
def _hook(event, args):
    if event == "open" and isinstance(args[0], (str, bytes, os.PathLike)):
        path = os.fsdecode(args[0])
        if path != _log and os.path.realpath(path) == _weights:
            fd = os.open(_log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            os.write(fd, f"{os.getpid()} {' '.join(sys.argv)}\\n".encode())
            os.close(fd)
sys.addaudithook(_hook)
'''


def test_make_all_hashes_the_weights_once_and_loads_them_once(tmp_path):
    data = ph.make_dataset(tmp_path / "data", num=2)
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(SITECUSTOMIZE)
    weights = tmp_path / "weights.npz"
    shutil.copy2(ph.ROOT / ph.GOLDEN_WEIGHTS, weights)
    log = tmp_path / "opens.log"
    env = ph.clean_env({"PYTHONPATH": f"{hook}:{ph.ROOT / 'tools'}", "AUDIT_WEIGHTS": str(weights),
                        "AUDIT_LOG": str(log)})
    ph.run_make(["all"], tmp_path / "artifacts", data, ph.ort_vars(WEIGHTS=str(weights), LIMIT="2"), env=env)
    opens = [line.split(" ", 1) for line in log.read_text().splitlines()]
    steps = {}
    for pid, cmd in opens:
        step = "plan" if "plan_run.py" in cmd else cmd.split("__main__.py ")[-1].split()[0]
        steps.setdefault(step, []).append(pid)
    assert len(steps["plan"]) == 1, opens  # hashed once, by the plan
    # loaded by the export, and by the simplify step's check of the graph against PyTorch; never after
    assert set(steps) == {"plan", "export-ort", "simplify-ort"}, opens
    assert all(len(set(pids)) == 1 for pids in steps.values()), opens  # one process each
