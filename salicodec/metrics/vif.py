"""VIF-pixel (Sheikh & Bovik 2006, pixel-domain version) on the luma of RGB uint8 pairs.

Follows the authors' reference vifp_mscale.m: four scales; at scale k a Gaussian window of size
N = 2^(5-k) + 1 and sigma N/5; from scale 2 on, the images are low-passed with that window
('valid') and subsampled by 2; local means, variances and covariance from the same window
('valid'); the distortion channel is a gain g and additive noise sv²; visual noise sigma_n² = 2;
VIF = Σ log10(1 + g² σ_x² / (sv² + σ_n²)) / Σ log10(1 + σ_x² / σ_n²), summed over pixels and
scales. 1 for identical images, below 1 for losses, above 1 for contrast enhancement.

Computed on BT.601 full-range luma in [0, 255] (the reference code takes one grey plane).
The Gaussian window is separable, so the filtering is two 1-D passes (float64, via torch).
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import SalicodecError
from .classic import check_pair, luma

__all__ = ["vifp", "vifp_luma"]

SIGMA_N_SQ = 2.0
_EPS = 1e-10


def _gaussian_1d(n: int) -> torch.Tensor:
    """1-D factor of MATLAB's fspecial('gaussian', n, n/5), normalised to sum 1."""
    sigma = n / 5.0
    x = torch.arange(n, dtype=torch.float64) - (n - 1) / 2.0
    g = torch.exp(-(x * x) / (2.0 * sigma * sigma))
    return g / g.sum()


def _filter_valid(img: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """Separable 'valid' correlation of a (1, 1, H, W) image with the outer product g gᵀ."""
    n = g.numel()
    img = F.conv2d(img, g.view(1, 1, n, 1))
    return F.conv2d(img, g.view(1, 1, 1, n))


def vifp_luma(ref: np.ndarray, dist: np.ndarray) -> float:
    """VIF-pixel of two grey planes (H, W) of equal size, float values in [0, 255]."""
    if ref.shape != dist.shape or ref.ndim != 2:
        raise SalicodecError("VIF-pixel needs two grey planes of equal size")
    if min(ref.shape) < 41:
        raise SalicodecError("VIF-pixel needs images of at least 41x41 pixels (four scales)")
    x = torch.from_numpy(np.asarray(ref, dtype=np.float64))[None, None]
    y = torch.from_numpy(np.asarray(dist, dtype=np.float64))[None, None]
    num = 0.0
    den = 0.0
    for scale in range(1, 5):
        n = 2 ** (4 - scale + 1) + 1
        g = _gaussian_1d(n)
        if scale > 1:
            x = _filter_valid(x, g)[..., ::2, ::2]
            y = _filter_valid(y, g)[..., ::2, ::2]
        mu_x, mu_y = _filter_valid(x, g), _filter_valid(y, g)
        var_x = (_filter_valid(x * x, g) - mu_x * mu_x).clamp(min=0)
        var_y = (_filter_valid(y * y, g) - mu_y * mu_y).clamp(min=0)
        cov = _filter_valid(x * y, g) - mu_x * mu_y

        gain = cov / (var_x + _EPS)
        sv_sq = var_y - gain * cov
        # The reference's special cases, in its order: a flat reference patch carries no
        # information (gain 0, all of the distorted variance is noise) ...
        flat_x = var_x < _EPS
        gain = torch.where(flat_x, torch.zeros_like(gain), gain)
        sv_sq = torch.where(flat_x, var_y, sv_sq)
        var_x = torch.where(flat_x, torch.zeros_like(var_x), var_x)
        # ... a flat distorted patch passes nothing ...
        flat_y = var_y < _EPS
        gain = torch.where(flat_y, torch.zeros_like(gain), gain)
        sv_sq = torch.where(flat_y, torch.zeros_like(sv_sq), sv_sq)
        # ... and a negative gain is treated as no signal.
        negative = gain < 0
        sv_sq = torch.where(negative, var_y, sv_sq)
        gain = torch.where(negative, torch.zeros_like(gain), gain)
        sv_sq = sv_sq.clamp(min=_EPS)

        num += float(torch.log10(1.0 + gain * gain * var_x / (sv_sq + SIGMA_N_SQ)).sum())
        den += float(torch.log10(1.0 + var_x / SIGMA_N_SQ).sum())
    if den == 0:
        raise SalicodecError("VIF-pixel is undefined for a flat reference image")
    return num / den


def vifp(ref: np.ndarray, dist: np.ndarray) -> float:
    """VIF-pixel of two RGB uint8 images, on their BT.601 luma."""
    check_pair(ref, dist)
    return vifp_luma(luma(ref), luma(dist))
