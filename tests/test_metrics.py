"""Confusion matrix and mmseg metrics: hand-computed cases and agreement with cityscapesscripts' evaluation."""
import math

import numpy as np
import pytest
from PIL import Image

from semask.data.cityscapes import CLASSES, discover, select_first
from semask.data.labels import lut_label_ids, train_to_label_id
from semask.evaluate.metrics import INVALID_COL, confusion, empty_matrix, summarize
from semask.data.synthetic import make_synthetic


def test_hand_computed_single_image():
    gt = np.array([[0, 0, 1, 1], [2, 2, 255, 255]], np.uint8)
    pred = np.array([[0, 1, 1, 1], [2, 0, 5, 7]], np.int64)
    m = confusion(gt, pred)
    assert m.sum() == 6 and m[0, 0] == 1 and m[0, 1] == 1 and m[1, 1] == 2 and m[2, 2] == 1 and m[2, 0] == 1
    r = summarize(m)
    # road: I=1, label=2, pred=2 -> IoU 1/3; sidewalk: I=2, label=2, pred=3 -> 2/3; building: I=1, label 2, pred 1 -> 1/2
    assert r["per_class"]["road"]["IoU"] == pytest.approx(100 / 3)
    assert r["per_class"]["sidewalk"]["IoU"] == pytest.approx(200 / 3)
    assert r["per_class"]["building"]["IoU"] == pytest.approx(50)
    assert r["per_class"]["road"]["Acc"] == pytest.approx(50) and r["per_class"]["sidewalk"]["Acc"] == pytest.approx(100)
    assert r["per_class"]["pole"]["IoU"] is None  # absent from GT and (valid-pixel) predictions -> NaN
    assert r["mIoU"] == pytest.approx((100 / 3 + 200 / 3 + 50) / 3)
    assert r["mAcc"] == pytest.approx((50 + 100 + 50) / 3)
    assert r["aAcc"] == pytest.approx(400 / 6)


def test_class_predicted_but_absent_from_gt_counts_zero_iou_nan_acc():
    gt = np.zeros((2, 2), np.uint8)
    pred = np.array([[0, 0], [0, 13]], np.int32)
    r = summarize(confusion(gt, pred))
    assert r["per_class"]["car"]["IoU"] == 0.0 and r["per_class"]["car"]["Acc"] is None
    assert r["mIoU"] == pytest.approx((75 + 0) / 2) and r["mAcc"] == pytest.approx(75)


def test_out_of_range_predictions_are_wrong_and_flagged():
    gt = np.array([[0, 1, 2, 255]], np.uint8)
    for dtype in (np.int64, np.int32):
        m = confusion(gt, np.array([[-1, 19, 2, 400]], dtype))
        assert m[:, INVALID_COL].sum() == 2 and m[:, :INVALID_COL].sum() == 1
        r = summarize(m)
        assert r["invalid_prediction_pixels"] == 2 and r["aAcc"] == pytest.approx(100 / 3)
        assert r["per_class"]["road"]["IoU"] == 0.0 and r["per_class"]["building"]["IoU"] == 100.0
    m8 = confusion(gt, np.array([[200, 1, 2, 0]], np.uint8))
    assert m8[0, INVALID_COL] == 1 and m8[1, 1] == 1


def test_totals_accumulate_over_dataset_not_per_image_mean():
    a = confusion(np.zeros((1, 4), np.uint8), np.zeros((1, 4), np.int64))  # road perfect, 4 px
    b = confusion(np.zeros((1, 1), np.uint8), np.ones((1, 1), np.int64))  # road missed, 1 px
    r = summarize(a + b)
    assert r["per_class"]["road"]["IoU"] == pytest.approx(80.0)  # 4 / 5, not mean(100, 0)
    assert r["per_class"]["sidewalk"]["IoU"] == 0.0


def test_dtypes_agree():
    rng = np.random.default_rng(0)
    gt = rng.choice(np.r_[np.arange(19), 255], size=(40, 50)).astype(np.uint8)
    pred = rng.integers(0, 19, size=(40, 50))
    ms = [confusion(gt, pred.astype(t)) for t in (np.uint8, np.int32, np.int64)]
    assert all(np.array_equal(ms[0], m) for m in ms[1:])
    assert summarize(empty_matrix())["mIoU"] is None


def test_agrees_with_cityscapesscripts_evaluation(tmp_path):
    from cityscapesscripts.evaluation import evalPixelLevelSemanticLabeling as cs_eval

    root = tmp_path / "ds"
    make_synthetic(root, 6, (64, 128), seed=21, jobs=1)
    frames = select_first(discover(root)[0], 6)
    rng = np.random.default_rng(1)
    to_id = train_to_label_id()
    matrix = empty_matrix()
    preds, gts = [], []
    for frame in frames:
        gt_train = lut_label_ids(frame.label_ids)
        pred = np.where(gt_train == 255, 0, gt_train).astype(np.int64)
        noise = rng.random(pred.shape) < 0.2
        pred[noise] = rng.integers(0, 19, int(noise.sum()))
        matrix += confusion(gt_train, pred)
        out = tmp_path / "pred" / f"{frame.fid}_pred.png"
        out.parent.mkdir(exist_ok=True)
        Image.fromarray(to_id[pred.astype(np.uint8)]).save(out)
        preds.append(str(out))
        gts.append(str(frame.label_ids))
    args = cs_eval.args
    args.evalInstLevelScore, args.JSONOutput, args.quiet, args.evalPixelAccuracy = False, False, True, False
    result = cs_eval.evaluateImgLists(preds, gts, args)
    ours = summarize(matrix)["per_class"]
    compared = 0
    for name in CLASSES:
        theirs = result["classScores"][name]
        mine = ours[name]["IoU"]
        if math.isnan(theirs):
            assert mine is None
        else:
            assert mine / 100 == pytest.approx(theirs, abs=1e-9)
            compared += 1
    assert compared >= 8
