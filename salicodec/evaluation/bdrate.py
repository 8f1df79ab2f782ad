"""Bjøntegaard delta rate (VCEG-M33) with piecewise cubic interpolation (PCHIP, as in JVET's
CTC spreadsheets and CompressAI), rather than the original cubic polynomial fit.

BD-rate = the average difference of log-rate between two RD curves over the quality interval both
cover, expressed as a percentage: negative = the tested codec needs fewer bits than the anchor
for the same quality. For metrics where lower is better (LPIPS), pass `higher_is_better=False`:
the quality axis is negated so that the interval and the integral are the same computation.
"""
from __future__ import annotations

import math

import numpy as np
from scipy.interpolate import PchipInterpolator


def quality_at_rate(rates, quality, rate: float) -> tuple[float, bool]:
    """A curve's quality at `rate`, linear in log rate between its neighbouring points; and whether
    `rate` lies inside the measured range (outside, the end point's quality is returned)."""
    order = np.argsort(rates)
    x = np.log(np.asarray(rates, dtype=np.float64)[order])
    y = np.asarray(quality, dtype=np.float64)[order]
    inside = bool(x[0] <= math.log(rate) <= x[-1])
    return float(np.interp(math.log(rate), x, y)), inside


def _curve(rates, quality, higher_is_better: bool):
    r = np.asarray(rates, dtype=np.float64)
    q = np.asarray(quality, dtype=np.float64)
    if r.shape != q.shape or r.ndim != 1 or len(r) < 2:
        raise ValueError("a curve needs at least two (rate, quality) points of equal count")
    if np.any(r <= 0) or not np.all(np.isfinite(q)):
        raise ValueError("rates must be positive and qualities finite")
    if not higher_is_better:
        q = -q
    order = np.argsort(q)
    q, log_r = q[order], np.log(r[order])
    if np.any(np.diff(q) <= 0):
        raise ValueError("quality values of a curve must be distinct")
    return q, log_r


def bd_rate(anchor_rates, anchor_quality, test_rates, test_quality, *, higher_is_better: bool = True) -> float:
    """BD-rate of `test` against `anchor`, in percent. NaN when the quality ranges do not overlap,
    or when a curve is not monotone (a point with more bits and worse quality than another): its
    log-rate is then no function of quality to integrate, and PCHIP through it gives a number that
    means nothing (it would swing with where the dominated point lies)."""
    qa, la = _curve(anchor_rates, anchor_quality, higher_is_better)
    qt, lt = _curve(test_rates, test_quality, higher_is_better)
    if np.any(np.diff(la) <= 0) or np.any(np.diff(lt) <= 0):
        return math.nan
    low, high = max(qa[0], qt[0]), min(qa[-1], qt[-1])
    if not high > low:
        return math.nan
    ia = PchipInterpolator(qa, la).integrate(low, high)
    it = PchipInterpolator(qt, lt).integrate(low, high)
    mean_log_ratio = (it - ia) / (high - low)
    return float((math.exp(mean_log_ratio) - 1.0) * 100.0)
