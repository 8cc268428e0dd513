"""The logit SQNR formula against cases worked out by hand (semask.model.sqnr)."""
import math

import numpy as np
import pytest

from semask.model.sqnr import SqnrSum, as_json, meets_floor, sqnr_db


def test_hand_computed_cases():
    # sum ref^2 = 9 + 16 = 25, sum (ref - x)^2 = 0 + 1 = 1: 10*log10(25) = 13.9794 dB
    assert sqnr_db(np.array([3.0, 4.0]), np.array([3.0, 3.0])) == pytest.approx(13.9794, abs=1e-4)
    # sum ref^2 = 1 + 4 + 4 + 0 = 9, noise 0.3^2 = 0.09: ratio 100, exactly 20 dB
    ref = np.array([[1.0, -2.0], [2.0, 0.0]], dtype=np.float32)
    assert sqnr_db(ref, np.array([[1.0, -2.0], [2.0, 0.3]], dtype=np.float32)) == pytest.approx(20.0, abs=1e-5)


def test_frames_accumulate_their_sums_not_their_decibels():
    total = SqnrSum()
    assert total.add(np.array([3.0, 4.0]), np.array([3.0, 3.0])) == pytest.approx(13.9794, abs=1e-4)
    assert total.add(np.array([0.0, 0.0]), np.array([1.0, 0.0])) == -math.inf  # no signal, some noise
    # (25 + 0) / (1 + 1) = 12.5: 10*log10(12.5) = 10.9691 dB
    assert total.db == pytest.approx(10.9691, abs=1e-4) and total.frames == 2


def test_identical_is_inf_and_nan_never_passes():
    a = np.array([1.0, 2.0])
    assert sqnr_db(a, a.copy()) == math.inf and as_json(math.inf) == "inf"
    bad = sqnr_db(a, np.array([1.0, np.nan]))
    assert math.isnan(bad) and not meets_floor(bad, 0.0) and as_json(bad) is None
    assert math.isnan(sqnr_db(np.array([np.inf, 1.0]), a))
    assert not meets_floor(None, 0.0) and meets_floor(20.0, 20.0)
    with pytest.raises(ValueError):
        sqnr_db(a, np.zeros(3))


def test_a_precision_below_its_floor_is_refused_in_one_line():
    from semask.backends.openvino.sqnr_check import refuse_below_floor
    from semask.core.errors import KitError

    refuse_below_floor({"passed": True})
    for value, shown in ((12.5, "12.5 dB"), (None, "NaN (non-finite logits)")):
        with pytest.raises(KitError) as err:
            refuse_below_floor({"passed": False, "sqnr_db": value, "precision": "int8", "frames": 4, "floor_db": 20.0})
        text = str(err.value)
        assert "\n" not in text and shown in text and "floor of 20 dB" in text and "PRECISION=fp32" in text
