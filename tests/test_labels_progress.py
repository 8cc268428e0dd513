"""Honest labels, the plain progress lines, the panel's error column and the failure reasons of
`make reproduce`: small pure functions, checked against facts written out here by hand."""
import io

import numpy as np
import pytest

from semask.core.progress import Progress, loop_for_budget
from semask.evaluate.describe import dataset_label
from semask.evaluate.panels import ERROR_BGR, compose_panel
from semask.run.sweep import classify

OFFICIAL = {"frankfurt": 267, "lindau": 59, "munster": 174}


def facts(cities, h=1024, w=2048, synthetic=False):
    return {"num_images": sum(cities.values()), "cities": cities, "height": h, "width": w, "synthetic": synthetic}


@pytest.mark.parametrize("cities,h,limit,synthetic,label", [
    (OFFICIAL, 1024, None, False, "Cityscapes val (500)"),
    (OFFICIAL, 1024, "", False, "Cityscapes val (500)"),
    (OFFICIAL, 1024, "500", False, "subset (500)"),                      # LIMIT given: not the official run
    (OFFICIAL, 512, None, False, "custom (500)"),                        # not at 1024x2048
    ({**OFFICIAL, "munster": 173}, 1024, None, False, "subset (499)"),
    ({"frankfurt": 3, "lindau": 2}, 1024, "5", False, "subset (5)"),
    ({**OFFICIAL, "frankfurt": 268}, 1024, None, False, "custom (501)"),  # more than the split holds
    ({"aachen": 500}, 1024, None, False, "custom (500)"),
    (OFFICIAL, 1024, None, True, "synthetic (500)"),                     # the generator's marker wins
])
def test_dataset_label(cities, h, limit, synthetic, label):
    assert dataset_label(facts(cities, h, 2 * h, synthetic), limit) == label


def test_plain_progress_every_ten_percent_or_thirty_seconds():
    now = [0.0]
    out = io.StringIO()
    bar = Progress(500, "infer", stream=out, clock=lambda: now[0], terminal=False)
    for i in range(120):
        now[0] += 3.6
        bar.update()
    lines = out.getvalue().splitlines()
    # 30 s pass every 9 images (32.4 s) before 10 % (50 images) is reached
    assert lines[0] == "infer 9/500 (1 %) 3.6 s/img, ~29 min left"
    assert lines[-1] == "infer 117/500 (23 %) 3.6 s/img, ~23 min left"
    fast = io.StringIO()
    bar = Progress(500, "infer", stream=fast, clock=lambda: 0.0, terminal=False)
    for _ in range(500):
        bar.update()
    assert len(fast.getvalue().splitlines()) == 10 and fast.getvalue().splitlines()[-1].startswith("infer 500/500 (100 %)")


def test_loop_budget_has_a_floor_of_three_and_respects_a_given_loop():
    assert loop_for_budget(None, 6.0, 60) == 10
    assert loop_for_budget(None, 50.0, 60) == 3
    assert loop_for_budget(7, 50.0, 60) == 7


def test_panel_error_column_marks_exactly_the_disagreeing_pixels():
    gt = np.zeros((32, 64), np.uint8)
    gt[:, 32:] = 13
    gt[0:4, 0:4] = 255  # ignore: never an error
    pred = gt.astype(np.int32).copy()
    pred[8:16, 8:24] = 2  # wrong
    pred[0:4, 0:4] = 5    # under ignore
    image = np.full((32, 64, 3), 90, np.uint8)
    panel, layout = compose_panel(image, gt, pred, ["frame | mIoU", "model | weights"], column_width=64)
    x0, y0, x1, y1 = layout["columns"][3]
    errors = panel[y0:y1, x0:x1]
    red = np.all(errors == ERROR_BGR, axis=2)
    expected = (gt != pred) & (gt != 255)
    assert np.array_equal(red, expected)
    assert panel.shape[0] > y1 + 20  # legend below the views


@pytest.mark.parametrize("text,code,known,start", [
    ("[ERROR] aclrtMalloc failed, ret[207001] (ACL_ERROR_RT_MEMORY_ALLOCATION): out of device memory", 2, True,
     "out of memory: [ERROR] aclrtMalloc failed, ret[207001]"),
    ("onnxruntime ... Failed to allocate memory for requested buffer of size 123", 2, True, "out of memory: "),
    ("make[1]: *** [Makefile:1: x] Killed", 2, True, "out of memory: killed"),
    ("error: atc failed for x.onnx (exit code 1); last lines of its output:\nE19010: No parser is registered", 2, True,
     "atc refused the graph: E19010: No parser is registered"),
    ("error: DATA_ROOT=/x has no Cityscapes layout\nmake[1]: *** [Makefile:3: y] Error 2", 2, False,
     "failed: error: DATA_ROOT=/x has no Cityscapes layout"),
])
def test_failure_reasons(text, code, known, start):
    got_known, reason = classify(text, code)
    assert got_known == known and reason.startswith(start) and "\n" not in reason
