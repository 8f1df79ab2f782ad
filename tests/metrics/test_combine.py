"""Metric combination: the SVD solve of Eq. 4 and RANSAC on planted data with outliers."""
from __future__ import annotations

import numpy as np
import pytest

from salicodec.metrics.combine import RansacConfig, fit_ransac, svd_solve
from salicodec.metrics.twoafc import score_2afc


def test_svd_solve_is_least_squares():
    rng = np.random.default_rng(0)
    A = rng.normal(size=(7, 3))
    b = rng.normal(size=7)
    np.testing.assert_allclose(svd_solve(A, b), np.linalg.lstsq(A, b, rcond=None)[0], rtol=1e-10)
    # Rank-deficient: the minimum-norm solution, like the pseudo-inverse.
    A[:, 2] = A[:, 1]
    np.testing.assert_allclose(svd_solve(A, b), np.linalg.pinv(A) @ b, rtol=1e-8)


def test_ransac_finds_planted_combination():
    # Two metrics, each alone half informative; people follow 2*m_a - m_b; 25 % of samples flipped.
    rng = np.random.default_rng(1)
    n = 600
    m0 = rng.normal(size=(n, 2)) + [30.0, 0.3]
    m1 = rng.normal(size=(n, 2)) + [30.0, 0.3]
    margin = (2 * m1[:, 0] - m1[:, 1]) - (2 * m0[:, 0] - m0[:, 1])
    h = np.where(margin > 0, 0.9, 0.1)
    flip = rng.random(n) < 0.25
    h[flip] = 1 - h[flip]
    comb = fit_ransac(m0[:400], m1[:400], h[:400], RansacConfig(iterations=500))
    held = comb.score(m0[400:], m1[400:], h[400:])
    singles = [score_2afc(m0[400:, k], m1[400:, k], h[400:], higher_is_better=True) for k in range(2)]
    singles.append(score_2afc(m0[400:, 1], m1[400:, 1], h[400:]))  # m_b as "lower is better"
    assert held > max(singles) + 0.02
    d = comb.weights / comb.weights[0]
    assert d[1] == pytest.approx(-0.5, abs=0.2)
