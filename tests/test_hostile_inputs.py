"""Hostile inputs at the `make` level (the tools' own unit tests cover the rest): each gives a one-line
error naming the file or variable and the fix, a non-zero exit, and leaves nothing that a later run
takes as done (after fixing the input, `make all` gives the reference result). Also the disk preflight
of preprocess and infer on a small tmpfs (skipped when it cannot be mounted)."""
import json
import os
import re
import shutil
import subprocess

import cv2
import numpy as np
import pytest

import pipeline_helpers as ph

FRAME = "frankfurt_000002_000061"  # third image in natural order: some work is done before it fails
BINS = ph.LazyPath(lambda: f"bins/{ph.BINS_NAME}")
LABELS = ph.LazyPath(lambda: f"labels/{ph.LABELS_NAME}")


@pytest.fixture(scope="module")
def ref(tmp_path_factory):
    return ph.shared_ort(tmp_path_factory)


def error_lines(proc):
    return [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]


make_errors = ph.parse_errors


def assert_one_error(proc, *needles):
    assert proc.returncode != 0
    [line] = error_lines(proc)
    for needle in needles:
        assert needle in line, (needle, line)
    return line


def image(data):
    return data / "leftImg8bit" / "val" / "frankfurt" / f"{FRAME}_leftImg8bit.png"


def polygons(data):
    return data / "gtFine" / "val" / "frankfurt" / f"{FRAME}_gtFine_polygons.json"


def resized_png(path, h, w):
    ok, buf = cv2.imencode(".png", cv2.resize(cv2.imread(str(path), cv2.IMREAD_COLOR), (w, h)))
    return buf.tobytes()


REPLACE = "replace them from the original"
DEFECTS = {  # name: (file, new content (None = delete), what the error says, the fix it gives, failing step)
    "truncated_png": (image, lambda p: p.read_bytes()[: p.stat().st_size // 2], "truncated PNG", REPLACE, BINS),
    "not_an_image": (image, lambda p: b"a text file renamed to .png\n", "not a PNG file", REPLACE, BINS),
    # prepare (the labels step) validates the dataset before preprocess runs, so it reports this one
    "wrong_aspect": (image, lambda p: resized_png(p, 48, 128), "image is 48x128, expected 64x128", REPLACE, LABELS),
    "wrong_size": (image, lambda p: resized_png(p, 32, 64), "image is 32x64, expected 64x128", REPLACE, LABELS),
    "missing_label": (polygons, None, "missing polygon annotation", REPLACE, LABELS),
    # issue 11 case 7: used to be a traceback from inside cityscapesscripts
    "polygon_not_a_list": (polygons, lambda p: json.dumps({**json.loads(p.read_text()), "objects": [
        {"label": "road", "polygon": "oops"}]}).encode(), "'polygon' is not a list of [x, y] points", REPLACE, LABELS),
}


@pytest.mark.parametrize("defect", list(DEFECTS))
def test_bad_dataset_file(ref, tmp_path, tmp_path_factory, defect):
    which, content, says, fix, step = DEFECTS[defect]
    data = tmp_path / "data root"
    shutil.copytree(ref["data"], data)
    arts = ph.seeded_tree(tmp_path_factory, tmp_path / "artifacts")
    victim = which(data)
    original = victim.read_bytes()
    if content is None:
        victim.unlink()
    else:
        victim.write_bytes(content(victim))
    bad = ph.run_make(["all"], arts, data, ph.ort_vars(), check=False)
    assert_one_error(bad, str(victim), says, fix)
    folder = f"bins/{ph.bins_name(data)}/manifest.json" if step is BINS else \
        f"labels/polygons_{ph.data_tag(data)}_first{ph.N_IMAGES}/labels.json"
    assert not (arts / folder).exists() and not ph.report_path(arts, data=data).exists()
    assert ph.run_make(["all"], arts, data, ph.ort_vars(), flags=["-q"], check=False).returncode != 0
    victim.write_bytes(original)  # fix it as told; nothing from the failed run may be reused wrongly
    ph.run_make(["all"], arts, data, ph.ort_vars())
    assert ph.read_json(ph.report_path(arts, data=data))["mIoU"] == ref["report"]["mIoU"]
    assert ph.pred_files(arts, data=data) == ph.pred_files(ref["artifacts"])


def test_stray_files_ignored_with_warning_never_scored(ref, tmp_path, tmp_path_factory):
    data = tmp_path / "data root"
    shutil.copytree(ref["data"], data)
    city = data / "leftImg8bit" / "val" / "frankfurt"
    strays = [city / "notes.txt", city / f"{FRAME}_leftImg8bit (copy).png", city / ".DS_Store",
              data / "leftImg8bit" / "val" / "README.md",
              data / "gtFine" / "val" / "lindau" / "lindau_000099_000001_gtFine_polygons.json"]
    for path in strays:
        shutil.copy(image(data) if path.suffix in (".png", ".json") else ph.ROOT / "Makefile", path)
    arts = ph.seeded_tree(tmp_path_factory, tmp_path / "artifacts")
    proc = ph.run_make(["all"], arts, data, ph.ort_vars())
    for path in strays:
        assert f"warning: ignoring stray file {path}" in proc.stderr, path
    report = ph.read_json(ph.report_path(arts, data=data))
    assert report["images"] == ref["report"]["images"] and report["mIoU"] == ref["report"]["mIoU"]
    bins = arts / "bins" / ph.bins_name(data)
    assert sorted(p.name for p in bins.iterdir()) == sorted(p.name for p in (ref["artifacts"] / BINS).iterdir())


def test_wrong_size_bin_in_bins_folder(ref, tmp_path):
    arts = ph.copy_tree(ref["artifacts"], tmp_path / "artifacts", skip={"preds", "reports"})
    stray = arts / BINS / "zzz_extra_leftImg8bit.bin"
    stray.write_bytes(b"\0" * 1000)
    proc = ph.run_make(["all"], arts, ref["data"], ph.ort_vars(), check=False)
    assert_one_error(proc, str(stray), "1000 bytes", "remove or regenerate this file")
    assert not (arts / "preds" / f"{ph.ORT_RUN}_summary.json").exists() and not ph.report_path(arts).exists()


def test_onnx_for_another_batch_size(ref, tmp_path):
    model = ref["artifacts"] / "onnx" / ph.ORT_ONNX
    out = tmp_path / "preds"
    proc = subprocess.run([ph.python(), "tools/infer_ort.py", "--model", str(model), "--input", str(ref["artifacts"] / BINS),
                           "--output", str(out), "--output-dirname", "r", "--batch-size", "2"],
                          cwd=ph.ROOT, env=ph.clean_env(), capture_output=True, text=True)
    assert proc.returncode == 2
    assert_one_error(proc, str(model), "BS=2", "export an ONNX for batch size 2")
    assert not out.exists()


def test_om_for_another_batch_size(tmp_path, tmp_path_factory):
    asc = ph.shared_ascend(tmp_path_factory)
    om = asc["artifacts"] / "om" / f"{ph.STEM}_{ph.SOC}_force_fp16.om"
    calls = len(asc["log"].read_text().splitlines())
    out = tmp_path / "preds"
    proc = subprocess.run([ph.python(), "tools/ais_infer.py", "--om", str(om), "--input", str(asc["artifacts"] / BINS),
                           "--output", str(out), "--output-dirname", "r", "--batch-size", "2"],
                          cwd=ph.ROOT, env={**asc["env"], "PYTHONPATH": "tools:tests/standins"},
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert_one_error(proc, str(om), "compiled for batch size 4", "BS=2", "compile an OM for this batch size")
    assert not out.exists() and len(asc["log"].read_text().splitlines()) == calls  # ais_bench never started


@pytest.mark.parametrize("assignment,variable", [
    ("BS=0", "BS"), ("BS=abc", "BS"), ("HEIGHT=1.5", "HEIGHT"), ("WIDTH=-2", "WIDTH"), ("LIMIT=0", "LIMIT"),
    ("MODEL=huge", "MODEL"), ("BACKEND=npu", "BACKEND"), ("LABEL_DTYPE=float", "LABEL_DTYPE"),
    ("WEIGHTS=/nonexistent/semask.pth", "WEIGHTS"), ("WEIGHTS=my weights.npz", "WEIGHTS"),
])
def test_bad_variable_is_a_parse_time_error(ref, tmp_path, assignment, variable):
    arts = tmp_path / "artifacts"
    name, value = assignment.split("=", 1)
    proc = ph.run_make(["all"], arts, ref["data"], ph.ort_vars(**{name: value}), check=False)
    assert proc.returncode == 2
    [line] = make_errors(proc)
    assert f"{variable}=" in line and re.search(r"use |give |move |choose|is not one of", line), line
    assert proc.stdout == "" and not arts.exists()


def test_weights_not_a_checkpoint(ref, tmp_path, tmp_path_factory):
    weights = tmp_path / "semask_small.pth"
    weights.write_bytes(b"<html>Google Drive - quota exceeded</html>\n")
    arts = ph.seeded_tree(tmp_path_factory, tmp_path / "artifacts")
    proc = ph.run_make(["all"], arts, ref["data"], ph.ort_vars(WEIGHTS=str(weights)), check=False)
    assert_one_error(proc, f"WEIGHTS file {weights}", "point WEIGHTS at ")
    # the ONNX of the previous weights is not taken as the export of these
    planned = ph.run_make(["all"], arts, ref["data"], ph.ort_vars(WEIGHTS=str(weights)), flags=["-n"]).stdout
    assert "semask export-ort --plan" in planned


def test_weights_of_the_wrong_variant(ref, tmp_path, tmp_path_factory):
    arts = ph.seeded_tree(tmp_path_factory, tmp_path / "artifacts")
    proc = ph.run_make(["all"], arts, ref["data"], ph.ort_vars(MODEL="tiny"), check=False)
    assert_one_error(proc, f"WEIGHTS file {ph.GOLDEN_WEIGHTS}", "it looks like MODEL=reduced",
                     "Set MODEL to match the file")
    assert not [p for p in (arts / "onnx").iterdir() if "tiny" in p.name and not p.name.startswith(".")]


def test_artifacts_not_writable(ref, tmp_path):
    blocker = tmp_path / "a_regular_file"  # (ARTIFACTS with spaces is refused on its own)
    blocker.write_text("x")
    arts = blocker / "artifacts"
    proc = ph.run_make(["all"], arts, ref["data"], ph.ort_vars(), check=False)
    assert proc.returncode == 2
    [line] = make_errors(proc)
    assert f"ARTIFACTS={arts} is not a writable folder" in line and "set ARTIFACTS to" in line
    assert blocker.read_text() == "x" and proc.stdout == ""


@pytest.mark.parametrize("mix", ["foreign_bin", "second_summary"])
def test_prediction_folder_from_two_runs_is_refused(ref, tmp_path, mix):
    arts = ph.copy_tree(ref["artifacts"], tmp_path / "artifacts", skip={"reports"})
    run = arts / "preds" / ph.ORT_RUN
    if mix == "foreign_bin":
        intruder = run / "aachen_000000_000019_leftImg8bit_0.bin"
        shutil.copy(sorted(run.iterdir())[0], intruder)
    else:
        intruder = run / "sumary.json"
        intruder.write_text((arts / "preds" / f"{ph.ORT_RUN}_summary.json").read_text())
    proc = ph.run_make(["all"], arts, ref["data"], ph.ort_vars(), check=False)
    assert_one_error(proc, str(run), intruder.name, "rerun inference into an empty folder")
    assert not ph.report_path(arts).exists()


# ------------------------------------------------------------------------------ disk preflight
tmpfs = ph.tmpfs


def assert_refused_for_space(proc, step, needed):
    line = assert_one_error(proc, f"{step} needs about", f"({needed} bytes)", "free some space")
    free = int(re.search(r"only .*?\((\d+) bytes\) is free", line).group(1))
    assert free < needed


def test_preprocess_refuses_without_disk_space(ref, tmp_path):
    with tmpfs(tmp_path / "small", "256k") as small:
        arts = small / "artifacts"
        proc = ph.run_make(["bins"], arts, ref["data"], ph.ort_vars(), check=False)
        assert_refused_for_space(proc, "preprocess", ph.N_IMAGES * 3 * ph.H * ph.W * 4)
        assert not [p for p in (arts / BINS).iterdir() if p.suffix in (".bin", ".json")]


def test_ort_infer_refuses_without_disk_space(ref, tmp_path):
    model = ref["artifacts"] / "onnx" / ph.ORT_ONNX
    with tmpfs(tmp_path / "small", "160k") as small:
        proc = subprocess.run([ph.python(), "tools/infer_ort.py", "--model", str(model), "--input",
                               str(ref["artifacts"] / BINS), "--output", str(small / "preds"), "--output-dirname", "r",
                               "--batch-size", str(ph.BS), "--no-progress"],
                              cwd=ph.ROOT, env=ph.clean_env(), capture_output=True, text=True)
        assert_refused_for_space(proc, "onnxruntime inference", ph.N_IMAGES * ph.H * ph.W * 4)
        assert not (small / "preds" / "r_summary.json").exists() and not list((small / "preds").rglob("*.bin"))


def test_ais_infer_refuses_without_disk_space(tmp_path, tmp_path_factory):
    asc = ph.shared_ascend(tmp_path_factory)
    om = asc["artifacts"] / "om" / f"{ph.STEM}_{ph.SOC}_force_fp16.om"
    calls = len(asc["log"].read_text().splitlines())
    with tmpfs(tmp_path / "small", "160k") as small:
        proc = subprocess.run([ph.python(), "tools/ais_infer.py", "--om", str(om), "--input", str(asc["artifacts"] / BINS),
                               "--output", str(small / "preds"), "--output-dirname", "r", "--batch-size", str(ph.BS)],
                              cwd=ph.ROOT, env={**asc["env"], "PYTHONPATH": "tools:tests/standins"},
                              capture_output=True, text=True)
        assert_refused_for_space(proc, "ais_bench inference", ph.N_IMAGES * ph.H * ph.W * 4)
        assert not list((small / "preds").rglob("*.bin")) and not list((small / "preds").glob("*.json"))
    assert len(asc["log"].read_text().splitlines()) == calls
    json.loads(om.with_suffix(".json").read_text())  # the OM is untouched


# ------------------------------------------------------------------------------ issue 11
def test_input_bin_edited_after_preprocessing_is_refused_by_inference(ref, tmp_path):
    """Case 2: a bin changed behind make's back (old mtime kept) is never fed to the model; the fix it names works."""
    arts = ph.copy_tree(ref["artifacts"], tmp_path / "artifacts", skip={"preds", "reports"})
    victim = sorted((arts / BINS).glob("*.bin"))[2]
    st = victim.stat()
    data = bytearray(victim.read_bytes())
    data[100:104] = b"\0\0\x80\x7f"  # one float becomes +Inf
    victim.write_bytes(bytes(data))
    os.utime(victim, ns=(st.st_atime_ns, st.st_mtime_ns))
    proc = ph.run_make(["all"], arts, ref["data"], ph.ort_vars(), check=False)
    assert_one_error(proc, str(victim), "changed after preprocessing", "rm <file>")
    assert not (arts / "preds" / f"{ph.ORT_RUN}_summary.json").exists()
    victim.unlink()
    ph.run_make(["all"], arts, ref["data"], ph.ort_vars())
    assert ph.pred_files(arts) == ph.pred_files(ref["artifacts"])
    assert ph.read_json(ph.report_path(arts))["mIoU"] == ref["report"]["mIoU"]


def test_nan_weights_are_refused_before_export(ref, tmp_path, tmp_path_factory):
    """Case 5: NaN weights used to export, verify with max_abs_logit_diff 0.0 and print a plausible mIoU."""
    with np.load(ph.ROOT / ph.GOLDEN_WEIGHTS) as npz:
        arrays = {k: np.array(npz[k]) for k in npz.files}
    key = sorted(k for k in arrays if arrays[k].dtype.kind == "f")[5]
    arrays[key][...] = np.nan
    weights = tmp_path / "nan.npz"
    np.savez(weights, **arrays)
    arts = ph.seeded_tree(tmp_path_factory, tmp_path / "artifacts")
    proc = ph.run_make(["all"], arts, ref["data"], ph.ort_vars(WEIGHTS=str(weights)), check=False)
    assert_one_error(proc, f"WEIGHTS file {weights}", "non-finite", repr(key))
    assert not ph.report_path(arts).exists()


def test_data_root_that_is_a_file(ref, tmp_path):
    """Case 7: used to say "unzip both into <the file>"."""
    blocker = tmp_path / "cityscapes.zip"
    blocker.write_bytes(b"PK")
    proc = ph.run_make(["all"], tmp_path / "artifacts", blocker, ph.ort_vars(), check=False)
    assert proc.returncode == 2 and proc.stdout == ""
    [line] = make_errors(proc)
    assert f"DATA_ROOT={blocker} is a file, not a folder" in line and "unzip" not in line


def test_artifacts_with_a_space_is_refused_in_one_line(ref, tmp_path):
    """Case 7: used to give make's "circular dependency" noise and a junk folder."""
    arts = tmp_path / "my artifacts"
    proc = ph.run_make(["all"], arts, ref["data"], ph.ort_vars(), check=False)
    assert proc.returncode == 2 and proc.stdout == ""
    [line] = make_errors(proc)
    assert f"ARTIFACTS={arts} is empty or contains spaces" in line and "circular" not in proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_full_disk_during_export_is_one_line(ref, tmp_path, tmp_path_factory):
    """Case 7: ENOSPC while writing the ONNX used to be a traceback; nothing half-written is kept."""
    with tmpfs(tmp_path / "small", "3m") as small:
        arts = small / "artifacts"
        arts.mkdir()
        shutil.copytree(ref["artifacts"] / "env", arts / "env")
        proc = ph.run_make(["onnx"], arts, ref["data"], ph.ort_vars(), check=False)
        assert_one_error(proc, "no space left on the device", "free some space")
        assert "Traceback" not in proc.stderr
        assert not [p for p in (arts / "onnx").iterdir() if p.suffix == ".onnx" or ".tmp" in p.name]


def test_other_test_scale_on_native_size_frames_scores_at_native_size(tmp_path):
    """Case 6: HEIGHT x WIDTH = 512x1024 on 1024x2048 frames. Labels stay native, the graph resizes its
    logits back to 1024x2048 before the argmax (upstream's rescale=True), scoring compares at native
    size; the mIoU equals an independent computation done by hand in PyTorch."""
    import torch
    from cityscapesscripts.helpers.labels import labels as cs_labels

    from semask.model.checkpoint import load_weights
    from semask.model.network import build_model

    data = ph.make_dataset(tmp_path / "data", num=2, height=1024, width=2048, seed=4)
    arts = tmp_path / "artifacts"
    variables = ph.ort_vars(HEIGHT="512", WIDTH="1024", BS="1", LIMIT="2", LABELS="lut")
    ph.run_make(["all"], arts, data, variables)
    stem = f"semask_reduced_bs1_512x1024_float32_int32_out1024x2048_{ph.WTAG}"
    report = ph.read_json(ph.report_path(arts, f"ort-cpu_{stem}_{ph.data_tag(data)}_first2"))
    assert (report["height"], report["width"], report["num_images"]) == (1024, 2048, 2)

    # by hand: cv2 resize to 512x1024, mmcv's normalisation written out, the model, torch's bilinear resize
    # back to 1024x2048 (align_corners=False), argmax; ground truth = labelIds through cityscapesscripts' table
    model = build_model("reduced")
    load_weights(model, ph.ROOT / ph.GOLDEN_WEIGHTS, quiet=True)
    lut = np.full(256, 255, np.int64)
    for label in cs_labels:
        if 0 <= label.id < 256 and 0 <= label.trainId < 255:
            lut[label.id] = label.trainId
    mean, std = np.array([123.675, 116.28, 103.53]), np.array([58.395, 57.12, 57.375])
    counts = {"hand": (np.zeros(19), np.zeros(19)), "kit": (np.zeros(19), np.zeros(19))}
    run = arts / "preds" / f"ort-cpu_{stem}_{ph.data_tag(data)}_first2"
    for image in sorted((data / "leftImg8bit" / "val").rglob("*_leftImg8bit.png"), key=lambda p: p.name):
        bgr = cv2.imread(str(image), cv2.IMREAD_COLOR)
        small = cv2.resize(bgr, (1024, 512), interpolation=cv2.INTER_LINEAR)
        x = ((small[:, :, ::-1].astype(np.float32) - mean.astype(np.float32)) / std.astype(np.float32))
        with torch.no_grad():
            logits = model(torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)[None])))
            logits = torch.nn.functional.interpolate(logits, size=(1024, 2048), mode="bilinear", align_corners=False)[0]
        top2 = logits.sort(dim=0).values[-2:].numpy()
        confident = (top2[1] - top2[0]) > 1e-3
        hand = logits.argmax(0).numpy()
        kit = np.fromfile(run / image.name.replace(".png", "_0.bin"), np.int32).reshape(1024, 2048)
        assert (kit == hand)[confident].all() and confident.mean() > 0.99
        ids = cv2.imread(str(image).replace("leftImg8bit/", "gtFine/").replace("_leftImg8bit.png", "_gtFine_labelIds.png"),
                         cv2.IMREAD_UNCHANGED)
        gt = lut[ids]
        valid = gt != 255
        for name, pred in (("hand", hand), ("kit", kit)):
            inter, union = counts[name]
            for c in range(19):
                p, g = (pred == c) & valid, gt == c
                inter[c] += (p & g).sum()
                union[c] += (p | g).sum()

    def miou(name):
        inter, union = counts[name]
        present = union > 0
        return 100 * float((inter[present] / union[present]).mean())

    assert report["mIoU"] == pytest.approx(miou("kit"), rel=1e-9, abs=1e-12)  # scored at native size
    assert report["mIoU"] == pytest.approx(miou("hand"), abs=1e-3)  # = the by-hand PyTorch pipeline
