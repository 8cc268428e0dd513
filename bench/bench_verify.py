#!/usr/bin/env python3
"""What the issue-11 verification costs per step, at the default size (1024x2048).

  sha256 of one input bin (float32, 25.2 MB) and one prediction (int32, 8.4 MB): what inference adds
      per image (inputs checked against the bins manifest, outputs hashed for the predictions manifest)
  score: tools/score.py on N synthetic frames with the predictions manifest (verified) and without it
  make's one parse-time call: `tools/plan_run.py` (checks, lock, WEIGHTS hash + DATA_ROOT identity, manifest checks)
      and the parse-time preflight, on a 500-frame DATA_ROOT layout, per make run
Writes bench/out/verify.json; copy the figures into bench/RESULTS.md.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

from semask.core.fsio import sha256_file  # noqa: E402
from semask.core.manifest import write_preds_manifest  # noqa: E402
from semask.data.labels import prepare_labels  # noqa: E402
from semask.data.synthetic import make_synthetic  # noqa: E402

H, W = 1024, 2048
ENV = {**os.environ, "PYTHONPATH": str(ROOT / "tools")}


def median_seconds(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def sha_costs(repeat: int) -> dict:
    rng = np.random.default_rng(0)
    out = {}
    for name, nbytes in (("input_bin_float32", 3 * H * W * 4), ("prediction_int32", H * W * 4)):
        data = rng.integers(0, 255, nbytes, dtype=np.uint8).tobytes()
        out[name] = {"bytes": nbytes, "sha256_ms": 1000 * median_seconds(lambda: hashlib.sha256(data).hexdigest(), repeat)}
    return out


def score_cost(base: Path, num: int, repeat: int) -> dict:
    data, labels = base / "data", base / "labels"
    make_synthetic(data, num, (H, W), seed=1, jobs=2)
    prepare_labels(data, labels, limit=num, jobs=2)
    manifest = json.loads((labels / "labels.json").read_text())
    run = base / "preds" / "run"
    run.mkdir(parents=True)
    import cv2

    filesinfo = {}
    for i, entry in enumerate(manifest["images"]):
        gt = cv2.imread(str(labels / entry["label"]), cv2.IMREAD_UNCHANGED).astype(np.int32)
        name = f"{entry['stem']}_leftImg8bit_0.bin"
        np.where(gt == 255, 0, gt).astype(np.int32).tofile(run / name)
        filesinfo[str(i)] = {"infiles": [f"b/{entry['stem']}_leftImg8bit.bin"], "outfiles": [f"x/run/{name}"]}
    summary = base / "preds" / "run_summary.json"
    summary.write_text(json.dumps({"filesinfo": filesinfo}))
    cmd = [sys.executable, str(ROOT / "tools" / "score.py"), "--pred", str(summary), "--labels", str(labels),
           "--out-json", str(base / "r.json"), "--jobs", "2"]
    run_score = lambda: subprocess.run(cmd, check=True, capture_output=True, env=ENV)  # noqa: E731
    run_score()  # warm the page cache
    plain = median_seconds(run_score, repeat)
    write_preds_manifest(run, {p.name: (p.stat().st_size, sha256_file(p)) for p in run.glob("*.bin")})
    verified = median_seconds(run_score, repeat)
    assert json.loads((base / "r.json").read_text())["provenance"]["score"]["pred_manifest_verified"]
    # worst case: every file has another identity than recorded (a copied tree), so every file is rehashed
    side = base / "preds" / "run_manifest.json"
    record = json.loads(side.read_text())
    for entry in record["files"]:
        entry["identity"] = "copied"
    side.write_text(json.dumps(record))
    rehashed = median_seconds(run_score, repeat)
    return {"images": num, "seconds_without_manifest": plain, "seconds_verified": verified,
            "overhead": (verified - plain) / plain, "seconds_all_rehashed": rehashed,
            "overhead_all_rehashed": (rehashed - plain) / plain}


def stamps_cost(base: Path, frames: int, repeat: int) -> dict:
    """A DATA_ROOT-shaped tree of empty files and manifests listing `frames` files, as make sees them."""
    data, arts = base / "cs", base / "artifacts"
    names = [f"frankfurt_{i:06d}_000019" for i in range(frames)]
    for top, suffixes in (("leftImg8bit", ["_leftImg8bit.png"]), ("gtFine", ["_gtFine_polygons.json", "_gtFine_labelIds.png"])):
        city = data / top / "val" / "frankfurt"
        city.mkdir(parents=True)
        for n in names:
            for s in suffixes:
                (city / f"{n}{s}").touch()
    lab, bins, preds = arts / "labels", arts / "bins", arts / "preds" / "run"
    for d in (lab, bins, preds):
        d.mkdir(parents=True)
    for n in names:
        (lab / f"{n}.png").touch()
        (bins / f"{n}.bin").touch()
        (preds / f"{n}_0.bin").touch()
    (lab / "labels.json").write_text(json.dumps({"images": [{"label": f"{n}.png"} for n in names]}))
    (bins / "manifest.json").write_text(json.dumps({"files": [{"name": f"{n}.bin", "bytes": 0} for n in names]}))
    (arts / "preds" / "run_summary.json").write_text(json.dumps(
        {"filesinfo": {str(i): {"outfiles": [f"p/run/{n}_0.bin"]} for i, n in enumerate(names)}}))
    state = arts / ".state"
    weights = ROOT / "tests" / "fixtures" / "weights_reduced.npz"
    weights = ROOT / "tests" / "fixtures" / "weights_reduced.npz"
    plan = [sys.executable, str(ROOT / "tools" / "plan_run.py"), "--owner-pid", str(os.getpid()), "--goals", "all",
            "--folder", str(state / "plan"), f"ARTIFACTS={arts}", f"DATA_ROOT={data}", "MODEL=reduced",
            f"WEIGHTS={weights}", "BACKEND=ort", "HEIGHT=64", "WIDTH=128"]
    startup = [sys.executable, "-c", "pass"]
    run = lambda cmd: subprocess.run(cmd, check=True, capture_output=True, env=ENV)  # noqa: E731
    run(plan)
    out = {"frames": frames}
    for name, cmd in (("python_startup", startup), ("plan", plan)):
        out[f"{name}_ms"] = 1000 * median_seconds(lambda: run(cmd), repeat)
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "out")
    p.add_argument("--num", type=int, default=40, help="frames for the score measurement")
    p.add_argument("--repeat", type=int, default=5)
    a = p.parse_args()
    a.out.mkdir(parents=True, exist_ok=True)
    base = Path(tempfile.mkdtemp(prefix="bench_verify_"))
    try:
        result = {"sha256": sha_costs(a.repeat), "score": score_cost(base / "score", a.num, a.repeat),
                  "stamps": stamps_cost(base / "stamps", 500, a.repeat), "load_average": os.getloadavg()[0]}
    finally:
        shutil.rmtree(base, ignore_errors=True)
    (a.out / "verify.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
