"""End to end on the ONNX Runtime path: `make all` on synthetic data (DATA_ROOT with a space), MODEL=reduced
with the golden weights, BS=4 and LIMIT=7 (the last batch is partial). The report's mIoU must equal an
independent computation: the PyTorch model on the preprocessed bins, argmax, and a plain-numpy mmseg
confusion/mIoU against the prepared labels."""
import re

import cv2
import numpy as np
import pytest
import torch

import pipeline_helpers as ph
from semask.model.checkpoint import load_weights
from semask.model.network import build_model

CLASSES = ("road", "sidewalk", "building", "wall", "fence", "pole", "traffic light", "traffic sign", "vegetation",
           "terrain", "sky", "person", "rider", "car", "truck", "bus", "train", "motorcycle", "bicycle")
MEAN = np.array([123.675, 116.28, 103.53], np.float64)
STD = np.array([58.395, 57.12, 57.375], np.float64)
AMBIGUOUS = 1e-3  # top-1 minus top-2 logit margin under which ORT and PyTorch may legitimately disagree


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return ph.shared_ort(tmp_path_factory)


@pytest.fixture(scope="module")
def reference(run):
    """Independent predictions: PyTorch on the bins, plus the image each bin came from."""
    arts, data = run["artifacts"], run["data"]
    bins_dir = arts / "bins" / ph.BINS_NAME
    manifest = ph.read_json(bins_dir / "manifest.json")
    names = [f["name"] for f in manifest["files"]]
    x = np.stack([np.fromfile(bins_dir / n, np.float32).reshape(3, ph.H, ph.W) for n in names])
    images = [cv2.imread(str(data / f["source"]), cv2.IMREAD_COLOR) for f in manifest["files"]]
    model = build_model("reduced")
    load_weights(model, ph.ROOT / ph.GOLDEN_WEIGHTS, quiet=True)
    with torch.no_grad():
        logits = model(torch.from_numpy(x)).numpy()
    top2 = np.sort(logits, axis=1)[:, -2:]
    return {"names": names, "x": x, "images": images, "pred": logits.argmax(axis=1),
            "margin": top2[:, 1] - top2[:, 0]}


def mmseg_metrics(gts, preds, num_classes=19, ignore=255):
    """mmseg's intersect_and_union summed over images, then aAcc / nanmean IoU / nanmean Acc, in percent."""
    inter, area_gt, area_pred = (np.zeros(num_classes) for _ in range(3))
    for gt, pred in zip(gts, preds):
        keep = gt != ignore
        g, p = gt[keep].astype(np.int64), pred[keep].astype(np.int64)
        for c in range(num_classes):
            inter[c] += np.count_nonzero((g == c) & (p == c))
            area_gt[c] += np.count_nonzero(g == c)
            area_pred[c] += np.count_nonzero(p == c)
    with np.errstate(divide="ignore", invalid="ignore"):
        iou = inter / (area_gt + area_pred - inter)
        acc = inter / area_gt
    return {"mIoU": np.nanmean(iou) * 100, "aAcc": inter.sum() / area_gt.sum() * 100, "mAcc": np.nanmean(acc) * 100,
            "IoU": iou * 100}


def test_data_root_has_a_space_and_last_batch_is_partial(run):
    assert " " in str(run["data"])
    summary = ph.read_json(run["artifacts"] / "preds" / f"{ph.ORT_RUN}_summary.json")
    assert len(summary["filesinfo"]) == ph.N_IMAGES  # padded slot of batch 2 produces no output
    assert summary["NPU_compute_time"]["count"] == 2 and summary["throughput"] > 0
    assert sorted(p.name for p in (run["artifacts"] / "preds" / ph.ORT_RUN).iterdir()) == \
        sorted(n.replace(".bin", "_0.bin") for n in (e["infiles"][0].split("/")[-1] for e in summary["filesinfo"].values()))


def test_bins_match_an_independent_normalisation(reference):
    for arr, bgr in zip(reference["x"], reference["images"]):
        rgb = bgr[:, :, ::-1].astype(np.float64)
        expected = ((rgb - MEAN) / STD).transpose(2, 0, 1)
        assert np.allclose(arr, expected, atol=1e-5)


def test_miou_equals_independent_pytorch_computation(run, reference):
    arts = run["artifacts"]
    labels_dir = arts / "labels" / ph.LABELS_NAME
    gts, kit_preds, torch_preds = [], [], []
    ambiguous = 0
    for i, name in enumerate(reference["names"]):
        stem = name[: -len(".bin")]
        fid = stem[: -len("_leftImg8bit")]
        gt = cv2.imread(str(labels_dir / fid.split("_")[0] / f"{fid}_gtFine_labelTrainIds.png"), cv2.IMREAD_UNCHANGED)
        assert gt is not None and gt.shape == (ph.H, ph.W)
        kit = np.fromfile(arts / "preds" / ph.ORT_RUN / f"{stem}_0.bin", np.int32).reshape(ph.H, ph.W)
        ref = reference["pred"][i]
        unsure = reference["margin"][i] <= AMBIGUOUS
        assert np.array_equal(kit[~unsure], ref[~unsure]), f"{stem}: ORT and PyTorch disagree on confident pixels"
        ambiguous += int(unsure.sum())
        gts.append(gt)
        kit_preds.append(kit)
        torch_preds.append(np.where(unsure, kit, ref))  # a near-tie may go either way; all else is PyTorch's
    assert ambiguous <= 0.001 * ph.N_IMAGES * ph.H * ph.W
    assert len(np.unique(np.concatenate([p.ravel() for p in torch_preds]))) > 1, "degenerate predictions prove nothing"
    ours = mmseg_metrics(gts, torch_preds)
    report = run["report"]
    assert report["mIoU"] == pytest.approx(ours["mIoU"], rel=1e-9, abs=1e-12)
    assert report["aAcc"] == pytest.approx(ours["aAcc"], rel=1e-9)
    assert report["mAcc"] == pytest.approx(ours["mAcc"], rel=1e-9, abs=1e-12)
    for c, name in enumerate(CLASSES):
        got = report["per_class"][name]["IoU"]
        assert (got is None) == bool(np.isnan(ours["IoU"][c])), name
        if got is not None:
            assert got == pytest.approx(ours["IoU"][c], rel=1e-9, abs=1e-12), name
    assert report["valid_pixels"] == sum(int((g != 255).sum()) for g in gts)


def test_report_json_markdown_panels(run):
    arts, report = run["artifacts"], run["report"]
    assert {"mIoU", "aAcc", "mAcc", "per_class", "num_images", "provenance"} <= set(report)
    assert report["num_images"] == ph.N_IMAGES and list(report["per_class"]) == list(CLASSES)
    assert report["height"] == ph.H and report["width"] == ph.W and report["invalid_prediction_pixels"] == 0
    md = (arts / "reports" / f"{ph.ORT_RUN}.md").read_text()
    assert f"mIoU {report['mIoU']:.2f}" in md and "| class | IoU | Acc |" in md
    assert "written by ONNX Runtime (CPUExecutionProvider)" in md and "ais_bench" not in md
    first = report["images"][0].rsplit("_leftImg8bit", 1)[0]
    assert f"![{first}_panel]({ph.ORT_RUN}_panels/{first}_panel.png)" in md
    assert all(f"| {name} |" in md for name in CLASSES)
    panels = sorted((arts / "reports" / f"{ph.ORT_RUN}_panels").iterdir())
    assert [p.name for p in panels] == [f"{s.rsplit('_leftImg8bit', 1)[0]}_panel.png" for s in report["images"][:3]]
    assert report["panels"] == [str(p) for p in panels]
    for p in panels:
        img = cv2.imread(str(p), cv2.IMREAD_COLOR)
        assert img is not None and img.shape[0] >= ph.H and 4 * ph.W <= img.shape[1] <= 1920


def test_printed_results_table(run):
    arts, report, out = run["artifacts"], run["report"], run["proc"].stdout
    summary = ph.read_json(arts / "preds" / f"{ph.ORT_RUN}_summary.json")
    table = (arts / "reports" / f"{ph.ORT_RUN}.table.md").read_text()
    assert table in out and out.rstrip().endswith(table.rstrip())
    rows = [r for r in table.splitlines() if r.startswith("|")]
    assert rows[0] == ("| model | input | weights | dataset | backend/provider | chip | precision | BS | mIoU | fps¹ | "
                       "real img/s² | run |")
    cells = [c.strip() for c in rows[2].strip("|").split("|")]
    real = 1000 * ph.N_IMAGES / sum(summary["npu_compute_time_list"])  # 7 images, 8 slots: padding excluded
    assert cells[:2] == ["reduced test model (reduced)", f"{ph.H}x{ph.W}"]
    # issue 26: the fixture's content is the kit's fixed test weights (a graph identical to WEIGHTS=random's)
    assert cells[2].startswith("**kit test weights** (weights_reduced.npz: the kit's fixed test weights, not trained")
    assert "official" not in cells[2]
    assert cells[3:5] == [f"synthetic ({ph.N_IMAGES})", "onnxruntime/cpu"] and cells[5].endswith(" cores)")
    assert cells[6:] == ["fp32", "4", f"{report['mIoU']:.2f}", f"{summary['throughput']:.2f}", f"{real:.2f}",
                         str(ph.report_path(arts))]
    assert "ais_bench" not in rows[2] and "SMOKE RUN: synthetic images and untrained weights" in table
    assert any("| Ascend310P3 | force_fp16 | 8 | 76.54 | 4.13 |" in r for r in rows)
    assert re.search(r"^mIoU \d+\.\d\d  aAcc ", out, re.M)


def test_progress_lines_when_stdout_is_not_a_terminal(run):
    out = run["proc"].stdout
    for step in ("export", "onnxsim", "verify", "infer", "score"):
        assert re.search(rf"^\[{step}\] start", out, re.M) and re.search(rf"^\[{step}\] done in \d", out, re.M), step
    assert re.search(r"^infer onnxruntime\[cpu\] bs4 7/7 \(100 %\) \d+\.\d s/img", out, re.M)
    assert re.search(r"^labels \d/7 \(\d+ %\) \d+\.\d s/img, ~\d+ s left$", out, re.M)
