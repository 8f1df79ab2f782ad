"""Linear combination of quality metrics fitted to 2AFC judgements: least squares on random
minimal subsets + RANSAC (Patel et al., supplement Sec. 2, Eq. 1–4).

The supplement writes, for one training sample i, d · [m_1(x_i, x̂_i), …, m_K(x_i, x̂_i)] = b_i with
b_i "the 2AFC score for the sample", and obtains d from "two samples at a time (4 sets of linear
equations)". A 2AFC sample has two reconstructions, so each gives one equation: the combined
metric of x̂1 should equal h (the fraction of people who preferred x̂1) and that of x̂0 should
equal 1 − h. Two samples are four equations for the weights d; for K metrics a minimal subset is
ceil(K/2) samples. d = V D⁻¹ Uᵀ b (the SVD pseudo-inverse, Eq. 4) on each random subset; RANSAC
keeps the d that "satisfies the most samples in the train set": a sample is satisfied when the
combined metric prefers the reconstruction that most people preferred (samples with h = 1/2 are
left out of the count). The combined metric is then "higher is better".

Metric values enter raw, as in Eq. 1, plus one deviation: a constant column (an intercept c,
d·m + c = b). It changes no ranking, but without it a least-squares fit of positive values of a
"lower is better" metric (LPIPS) to fractions around 1/2 always gets a positive weight, i.e. the
wrong direction. `RansacConfig(intercept=False)` gives the literal Eq. 1.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .twoafc import score_2afc

__all__ = ["RansacConfig", "Combination", "svd_solve", "fit_ransac", "equations"]


@dataclass
class RansacConfig:
    iterations: int = 2000
    seed: int = 0
    intercept: bool = True


@dataclass
class Combination:
    weights: np.ndarray  # d, one per metric
    intercept: float
    inliers: int  # training samples the combination satisfies
    n_train: int

    def value(self, m: np.ndarray) -> np.ndarray:
        """The combined metric (higher = closer to the reference) of per-image values m (N, K)."""
        return np.asarray(m, dtype=np.float64) @ self.weights + self.intercept

    def score(self, m0: np.ndarray, m1: np.ndarray, h: np.ndarray) -> float:
        """2AFC score on samples with values m0, m1 (N, K) and human fractions h for x̂1."""
        return score_2afc(self.value(m0), self.value(m1), h, higher_is_better=True)


def svd_solve(A: np.ndarray, b: np.ndarray, rcond: float = 1e-12) -> np.ndarray:
    """Least-squares d of A d = b through the SVD A = U D Vᵀ: d = V D⁻¹ Uᵀ b (Eq. 4).

    (The supplement writes the rows as d A = b with A transposed; the solution is the same.)
    Singular values below rcond · max are treated as zero (the pseudo-inverse).
    """
    U, D, Vt = np.linalg.svd(A, full_matrices=False)
    keep = D > rcond * (D[0] if D.size else 0.0)
    inv = np.zeros_like(D)
    inv[keep] = 1.0 / D[keep]
    return Vt.T @ (inv * (U.T @ b))


def equations(m0: np.ndarray, m1: np.ndarray, h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two rows per sample: d·m(x̂1) = h and d·m(x̂0) = 1 − h."""
    A = np.concatenate([m1, m0])
    b = np.concatenate([h, 1.0 - h])
    return A, b


def _satisfied(d: np.ndarray, m0: np.ndarray, m1: np.ndarray, h: np.ndarray) -> int:
    v0, v1 = m0 @ d, m1 @ d
    return int(np.sum(((h > 0.5) & (v1 > v0)) | ((h < 0.5) & (v0 > v1))))


def fit_ransac(m0: np.ndarray, m1: np.ndarray, h: np.ndarray, config: RansacConfig = RansacConfig()) -> Combination:
    """Fit d on samples (values m0, m1 of shape (N, K) for x̂0, x̂1; human fractions h for x̂1)."""
    m0, m1, h = (np.asarray(a, dtype=np.float64) for a in (m0, m1, h))
    n, k = m0.shape
    if m1.shape != (n, k) or h.shape != (n,):
        raise ValueError("m0, m1 must be (N, K) and h (N,)")
    if config.intercept:
        m0, m1 = np.hstack([m0, np.ones((n, 1))]), np.hstack([m1, np.ones((n, 1))])
        k += 1
    per_subset = max(1, math.ceil(k / 2))
    if n < per_subset:
        raise ValueError(f"{n} samples are too few for {k} metrics")
    rng = np.random.default_rng(config.seed)
    best_d, best_count, best_residual = None, -1, math.inf
    A_all, b_all = equations(m0, m1, h)
    for _ in range(config.iterations):
        idx = rng.choice(n, size=per_subset, replace=False)
        A, b = equations(m0[idx], m1[idx], h[idx])
        d = svd_solve(A, b)
        count = _satisfied(d, m0, m1, h)
        if count < best_count:
            continue
        residual = float(np.sum((A_all @ d - b_all) ** 2))
        if count > best_count or residual < best_residual:  # ties: the better least-squares fit
            best_d, best_count, best_residual = d, count, residual
    if config.intercept:
        return Combination(best_d[:-1], float(best_d[-1]), best_count, n)
    return Combination(best_d, 0.0, best_count, n)
