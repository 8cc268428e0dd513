"""score: prediction layouts, coverage and size checks, reports, panels and the CLI contract."""
import json
import re
import shutil
import subprocess
import sys

import cv2
import numpy as np
import pytest

from semask.core.errors import KitError
from semask.data.labels import prepare_labels
from semask.evaluate.scoring import ScoreOptions, score
from semask.data.synthetic import make_synthetic

H, W = 64, 128
N = 6


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    base = tmp_path_factory.mktemp("score")
    data = base / "data root"
    make_synthetic(data, N, (H, W), seed=9, jobs=1)
    labels = base / "labels"
    prepare_labels(data, labels, limit=N, size=(H, W), jobs=1)
    return data, labels, json.loads((labels / "labels.json").read_text())


def _prediction(labels, entry, noise_seed=None):
    gt = cv2.imread(str(labels / entry["label"]), cv2.IMREAD_UNCHANGED).astype(np.int64)
    pred = np.where(gt == 255, 0, gt)
    if noise_seed is not None:
        rng = np.random.default_rng(noise_seed)
        mask = rng.random(pred.shape) < 0.15
        pred[mask] = rng.integers(0, 19, int(mask.sum()))
    return pred


def write_run(prepared, out, layout="ais_bench", dtype=np.int32, entries=None, noise=True, out_names=None):
    """Write predictions like the given tool would: returns the path to pass as --pred."""
    _, labels, manifest = prepared
    entries = manifest["images"] if entries is None else entries
    run = out / "2024_01_02-03_04_05"
    run.mkdir(parents=True)
    filesinfo = {}
    for i, entry in enumerate(entries):
        stem = entry["stem"] + "_leftImg8bit"
        name = out_names(i, stem) if out_names else f"{stem}_0.bin"
        _prediction(labels, entry, i if noise else None).astype(dtype).tofile(run / name)
        filesinfo[str(i)] = {"infiles": [f"./bins/{stem}.bin"], "outfiles": [f"./out/{run.name}/{name}"]}
    summary = {"filesinfo": filesinfo, "args": ["ais_bench"], "throughput": 1.0}
    if layout == "ais_bench":
        (out / f"{run.name}_summary.json").write_text(json.dumps(summary))
    elif layout == "ais_infer":
        (run / "sumary.json").write_text(json.dumps(summary))
    return run


def test_layouts_agree_and_report(prepared, tmp_path):
    data, labels, _ = prepared
    reports = []
    for layout in ("ais_bench", "ais_infer", "bare"):
        run = write_run(prepared, tmp_path / layout, layout)
        opts = ScoreOptions(run, labels, tmp_path / f"{layout}.json", "int32", tmp_path / f"{layout}.md", jobs=1)
        reports.append(score(opts))
    assert reports[0]["predictions"]["summary"].endswith("_summary.json")
    assert reports[1]["predictions"]["summary"].endswith("sumary.json") and reports[2]["predictions"]["summary"] is None
    for r in reports[1:]:
        assert r["mIoU"] == reports[0]["mIoU"] and r["per_class"] == reports[0]["per_class"]
    r = json.loads((tmp_path / "ais_bench.json").read_text())
    assert {"mIoU", "aAcc", "mAcc", "per_class", "num_images", "provenance"} <= set(r)
    assert r["num_images"] == N and 0 < r["mIoU"] < 100 and set(r["per_class"]["road"]) == {"IoU", "Acc"}
    assert r["provenance"]["score"]["label_mode"] == "polygons" and len(r["provenance"]["score"]["labels_manifest_sha256"]) == 64
    md = (tmp_path / "ais_bench.md").read_text()
    assert "| road |" in md and md.count("\n| ") >= 20


def test_summary_json_as_pred_and_filesinfo_mapping(prepared, tmp_path):
    _, labels, _ = prepared
    run = write_run(prepared, tmp_path / "p", out_names=lambda i, stem: f"input{i}_output_0.bin")
    by_summary = score(ScoreOptions(run.parent / f"{run.name}_summary.json", labels, tmp_path / "r.json", jobs=1))
    assert by_summary["num_images"] == N
    perfect = write_run(prepared, tmp_path / "perfect", noise=False)
    assert score(ScoreOptions(perfect, labels, tmp_path / "p.json", jobs=2))["mIoU"] == pytest.approx(100.0)


def test_int32_and_uint8_predictions(prepared, tmp_path):
    _, labels, _ = prepared
    ref = score(ScoreOptions(write_run(prepared, tmp_path / "i32"), labels, tmp_path / "a.json", jobs=1))
    for dtype, name in ((np.int32, "int32"), (np.uint8, "uint8")):
        r = score(ScoreOptions(write_run(prepared, tmp_path / name, dtype=dtype), labels, tmp_path / f"{name}.json", name, jobs=1))
        assert r["per_class"] == ref["per_class"]


def test_wrong_size_prediction(prepared, tmp_path, root):
    _, labels, _ = prepared
    run = write_run(prepared, tmp_path / "p", dtype=np.int32)  # int32 files read as int64
    with pytest.raises(KitError, match=rf"is {H * W * 4} bytes, expected {H * W * 8}"):
        score(ScoreOptions(run, labels, tmp_path / "r.json", "int64", jobs=1))
    victim = sorted(run.glob("*.bin"))[0]
    victim.write_bytes(victim.read_bytes()[:-4])
    proc = subprocess.run([sys.executable, "tools/score.py", "--pred", str(run), "--labels", str(labels),
                           "--label-dtype", "int32", "--out-json", str(tmp_path / "r.json")], cwd=root, capture_output=True, text=True)
    assert proc.returncode == 2 and proc.stderr.startswith("error: 1 prediction file(s) have the wrong size")
    assert f"{victim} is {H * W * 4 - 4} bytes, expected {H * W * 4}" in proc.stderr and proc.stderr.count("\n") == 1


def test_two_runs_in_one_folder(prepared, tmp_path):
    _, labels, manifest = prepared
    run = write_run(prepared, tmp_path / "p")
    (run / "frankfurt_000999_000001_leftImg8bit_0.bin").write_bytes(b"\0" * (H * W * 8))
    with pytest.raises(KitError, match=r"not in 2024_01_02-03_04_05_summary.json .*another run"):
        score(ScoreOptions(run, labels, tmp_path / "r.json", jobs=1))
    run2 = write_run(prepared, tmp_path / "q")
    (run2 / "sumary.json").write_text((run2.parent / f"{run2.name}_summary.json").read_text())
    with pytest.raises(KitError, match="two summary files"):
        score(ScoreOptions(run2, labels, tmp_path / "r.json", jobs=1))


def test_coverage_missing_extra_and_limit(prepared, tmp_path):
    _, labels, manifest = prepared
    entries = manifest["images"]
    run = write_run(prepared, tmp_path / "p", layout="bare", entries=entries[1:])
    (run / "lindau_000999_000001_leftImg8bit_0.bin").write_bytes(b"\0" * (H * W * 8))
    with pytest.raises(KitError) as err:
        score(ScoreOptions(run, labels, tmp_path / "r.json", jobs=1))
    msg = str(err.value)
    assert f"1 labelled image(s) have no prediction: {entries[0]['stem']}_leftImg8bit" in msg
    assert "1 prediction(s) have no label: lindau_000999_000001_leftImg8bit_0.bin" in msg
    r = score(ScoreOptions(run, labels, tmp_path / "r.json", limit=3, jobs=1))
    assert r["num_images"] == 2 and r["images"] == [e["stem"] + "_leftImg8bit" for e in entries[1:3]]


def test_stray_dataset_files_never_scored(prepared, tmp_path, capsys):
    data, _, _ = prepared
    copy = tmp_path / "data"
    shutil.copytree(data, copy)
    city = copy / "leftImg8bit" / "val" / "munster"
    shutil.copy(next(city.glob("*.png")), city / "munster_000001_000001_leftImg8bit (1).png")
    labels = tmp_path / "labels"
    prepare_labels(copy, labels, limit=N, size=(H, W), jobs=1)
    assert "ignoring stray file" in capsys.readouterr().err
    r = score(ScoreOptions(write_run(prepared, tmp_path / "p"), labels, tmp_path / "r.json", jobs=1))
    assert r["num_images"] == N and not any("(1)" in s for s in r["images"])


def test_cli_summary_line_provenance_panels(prepared, tmp_path, root):
    data, labels, _ = prepared
    run = write_run(prepared, tmp_path / "p")
    prov_a, prov_b = tmp_path / "a.json", tmp_path / "b.json"
    prov_a.write_text(json.dumps({"model": "semask_t", "onnx_sha256": "abc"}))
    prov_b.write_text(json.dumps({"backend": "ort", "model": "semask_s"}))
    out = tmp_path / "reports with space"
    proc = subprocess.run([sys.executable, "tools/score.py", "--pred", str(run), "--labels", str(labels),
                           "--label-dtype", "int32", "--out-json", str(out / "r.json"), "--out-md", str(out / "r.md"),
                           "--panels", "2", "--data-root", str(data), "--panel-dir", str(out / "panels"),
                           "--provenance", str(prov_a), str(prov_b), "--title", "demo"], cwd=root, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert re.search(r"^mIoU \d+\.\d\d  aAcc \d+\.\d\d  mAcc \d+\.\d\d  \(6 images\)\n\Z", proc.stdout, re.M)
    assert proc.stdout.startswith("[score] start: ") and re.search(r"^\[score\] done in \d", proc.stdout, re.M)
    # piped stdout: plain progress lines instead of a tqdm bar
    assert re.search(r"^score 6/6 \(100 %\) \d+\.\d s/img", proc.stdout, re.M)
    report = json.loads((out / "r.json").read_text())
    assert report["title"] == "demo" and report["provenance"]["model"] == "semask_s"
    assert report["provenance"]["onnx_sha256"] == "abc" and report["provenance"]["backend"] == "ort"
    assert report["provenance"]["score"]["pred_summary"].endswith("_summary.json")
    panels = sorted((out / "panels").glob("*.png"))
    assert len(panels) == 2
    img = cv2.imread(str(panels[0]))
    assert img.shape[1] <= 1920 and img.shape[0] > 100  # title, captions, four views, legend
    blocker = tmp_path / "file"
    blocker.write_text("x")
    proc = subprocess.run([sys.executable, "tools/score.py", "--pred", str(run), "--labels", str(labels),
                           "--out-json", str(blocker / "sub" / "r.json")], cwd=root, capture_output=True, text=True)
    assert proc.returncode == 2 and proc.stderr.startswith("error: cannot create report folder")
    proc = subprocess.run([sys.executable, "tools/score.py", "--pred", str(tmp_path / "nope"), "--labels", str(labels),
                           "--out-json", str(out / "x.json")], cwd=root, capture_output=True, text=True)
    assert proc.returncode == 2 and "does not exist" in proc.stderr


def test_degenerate_predictions_are_flagged_in_report_markdown_and_table(prepared, tmp_path):
    """Issue 11 case 5: a run that predicts one class almost everywhere gets a warning, not just a number."""
    from semask.run.table import render

    _, labels, manifest = prepared
    run = tmp_path / "p" / "run"
    run.mkdir(parents=True)
    filesinfo = {}
    for i, entry in enumerate(manifest["images"]):
        stem = entry["stem"] + "_leftImg8bit"
        np.zeros((H, W), np.int32).tofile(run / f"{stem}_0.bin")  # everything 'road'
        filesinfo[str(i)] = {"infiles": [f"./bins/{stem}.bin"], "outfiles": [f"./out/run/{stem}_0.bin"]}
    (run.parent / "run_summary.json").write_text(json.dumps({"filesinfo": filesinfo}))
    report = score(ScoreOptions(run, labels, tmp_path / "r.json", "int32", tmp_path / "r.md", jobs=1))
    [warning] = report["warnings"]
    assert "'road' covers 100.0% of the scored pixels" in warning
    assert f"Warning: {warning}" in (tmp_path / "r.md").read_text()
    assert f"WARNING: {warning}" in render(tmp_path / "r.json")
    assert score(ScoreOptions(write_run(prepared, tmp_path / "ok"), labels, tmp_path / "ok.json", jobs=1))["warnings"] == []


def test_prediction_manifest_is_verified(prepared, tmp_path):
    """Issue 11 case 2: with a predictions manifest beside the run, an edited prediction is refused by name."""
    from semask.core.fsio import sha256_file
    from semask.core.manifest import write_preds_manifest

    _, labels, _ = prepared
    run = write_run(prepared, tmp_path / "p")
    write_preds_manifest(run, {p.name: (p.stat().st_size, sha256_file(p)) for p in run.glob("*.bin")})
    ref = score(ScoreOptions(run, labels, tmp_path / "a.json", jobs=1))
    assert ref["provenance"]["score"]["pred_manifest_verified"] is True
    victim = sorted(run.glob("*.bin"))[2]
    data = bytearray(victim.read_bytes())
    data[:4] = (7).to_bytes(4, "little")
    victim.write_bytes(bytes(data))
    with pytest.raises(KitError, match=rf"{victim} has another sha256 than the manifest records.*delete them"):
        score(ScoreOptions(run, labels, tmp_path / "b.json", jobs=1))
