"""BD-rate against examples computed by hand (curves whose log-rate is linear in quality, which
PCHIP reproduces exactly, so the integral is elementary)."""
import math

import pytest

from salicodec.evaluation.bdrate import bd_rate

ANCHOR_R = [0.1, 0.2, 0.4, 0.8]
ANCHOR_Q = [30.0, 32.0, 34.0, 36.0]  # log2(rate) rises by 1 per 2 dB


def test_same_quality_at_1_5x_the_rate_is_plus_50_percent():
    assert bd_rate(ANCHOR_R, ANCHOR_Q, [1.5 * r for r in ANCHOR_R], ANCHOR_Q) == pytest.approx(50.0, abs=1e-9)


def test_one_db_better_at_equal_rate():
    # test(q) = anchor(q - 1): log-rate lower by ln(2)/2 everywhere on the overlap [31, 36].
    got = bd_rate(ANCHOR_R, ANCHOR_Q, ANCHOR_R, [q + 1 for q in ANCHOR_Q])
    assert got == pytest.approx((2 ** -0.5 - 1) * 100, abs=1e-9)  # -29.289 %


def test_different_slopes():
    # anchor: ln r = ln 0.25 + (q-30)/4 ln 4 on [30, 34]; test: (q-30)/6 ln 4 on [30, 36].
    # Overlap [30, 34]; difference -(q-30) ln4 / 12, mean -ln4/6 -> 4^(-1/6) - 1 = -20.630 %.
    got = bd_rate([0.25, 1.0], [30.0, 34.0], [0.25, 1.0], [30.0, 36.0])
    assert got == pytest.approx((4 ** (-1 / 6) - 1) * 100, abs=1e-9)


def test_lower_is_better_metric():
    lpips = [0.40, 0.30, 0.20, 0.10]
    assert bd_rate(ANCHOR_R, lpips, [0.8 * r for r in ANCHOR_R], lpips, higher_is_better=False) == pytest.approx(-20.0, abs=1e-9)


def test_point_order_does_not_matter_and_no_overlap_is_nan():
    assert bd_rate(ANCHOR_R[::-1], ANCHOR_Q[::-1], [2 * r for r in ANCHOR_R], ANCHOR_Q) == pytest.approx(100.0)
    assert math.isnan(bd_rate(ANCHOR_R, ANCHOR_Q, ANCHOR_R, [40, 41, 42, 43]))


def test_a_curve_with_a_dominated_point_has_no_bd_rate():
    # the third point costs more than the second and is worse: rate is not a function of quality
    test_r, test_q = [0.25, 0.5, 0.75, 1.0], [30.0, 33.0, 32.5, 36.0]
    assert math.isnan(bd_rate(ANCHOR_R, ANCHOR_Q, test_r, test_q))
    assert math.isnan(bd_rate(test_r, test_q, ANCHOR_R, ANCHOR_Q))
    lpips = [0.40, 0.30, 0.31, 0.10]  # the same for a lower-is-better metric
    assert math.isnan(bd_rate(ANCHOR_R, [0.40, 0.30, 0.20, 0.10], test_r, lpips, higher_is_better=False))
    # a monotone curve with the same end points still gets a number
    assert math.isfinite(bd_rate(ANCHOR_R, ANCHOR_Q, test_r, [30.0, 33.0, 34.0, 36.0]))


def test_bad_curves_are_refused():
    with pytest.raises(ValueError):
        bd_rate([0.1], [30], ANCHOR_R, ANCHOR_Q)
    with pytest.raises(ValueError):
        bd_rate([0.1, 0.2], [30, 30], ANCHOR_R, ANCHOR_Q)
