"""PSNR-HVS (Egiazarian et al. 2006) and PSNR-HVS-M (Ponomarenko et al. 2007) on RGB uint8 pairs.

Both compare 8x8 DCT blocks of the luma. PSNR-HVS weights each coefficient's error by a contrast
sensitivity table (CSF); PSNR-HVS-M first subtracts a contrast-masking threshold from the AC
errors, the larger of the two blocks' masking energies divided by a per-coefficient masking
weight. This follows Ponomarenko's reference MATLAB code (psnrhvsm.m, step 8):

- luma is 8-bit BT.601 studio-range Y (16..235, rounded to integers), as in the TID2013 results
  that the reference values were published with;
- non-overlapping 8x8 blocks from the top-left corner; a right or bottom margin narrower than a
  block is ignored (as the reference's loops do);
- orthonormal 2-D DCT-II (MATLAB's dct2); PSNR with peak 255; identical images give inf (the
  reference code returns 100000, psnr-hvsm returns 100).

Written here in numpy (no GPL dependency); the tests check it against the `psnr-hvsm` package's
independent C++ implementation when that package is installed.
"""
from __future__ import annotations

import math

import numpy as np

from .. import jpegtables
from ..errors import SalicodecError
from .classic import check_pair

__all__ = ["psnr_hvs", "psnr_hvsm", "psnr_hvs_hvsm", "studio_luma"]

B = 8  # DCT block size

# Contrast sensitivity per DCT frequency (row = vertical, column = horizontal), from the
# reference code (Egiazarian et al. 2006).
CSF = np.array([
    [1.608443, 2.339554, 2.573509, 1.608443, 1.072295, 0.643377, 0.504610, 0.421887],
    [2.144591, 2.144591, 1.838221, 1.354478, 0.989811, 0.443708, 0.428918, 0.467911],
    [1.838221, 1.979622, 1.608443, 1.072295, 0.643377, 0.451493, 0.372972, 0.459555],
    [1.838221, 1.513829, 1.169777, 0.887417, 0.504610, 0.295806, 0.321689, 0.415082],
    [1.429727, 1.169777, 0.695543, 0.459555, 0.378457, 0.236102, 0.249855, 0.334222],
    [1.072295, 0.735288, 0.467911, 0.402111, 0.317717, 0.247453, 0.227744, 0.279729],
    [0.525206, 0.402111, 0.329937, 0.295806, 0.249855, 0.212687, 0.214459, 0.254803],
    [0.357432, 0.279729, 0.270896, 0.262603, 0.229778, 0.257351, 0.249855, 0.259950],
])

# The masking weights of the reference code are (10 / Q)^2 for the JPEG luminance quantisation
# table Q (ITU-T T.81 Annex K.1), rounded to 6 decimals there; we derive them from Q directly.
JPEG_LUMA_Q = jpegtables.LUMA
MASK_WEIGHTS = np.round((10.0 / JPEG_LUMA_Q) ** 2, 6)  # exactly the reference table


def _dct_matrix(n: int = B) -> np.ndarray:
    """Orthonormal DCT-II matrix C, so that dct2(X) = C X C^T."""
    k = np.arange(n)[:, None]
    i = np.arange(n)[None, :]
    c = np.sqrt(2.0 / n) * np.cos(np.pi * (2 * i + 1) * k / (2 * n))
    c[0] /= np.sqrt(2.0)
    return c


_C = _dct_matrix()


def studio_luma(rgb: np.ndarray) -> np.ndarray:
    """8-bit BT.601 Y' in studio range (MATLAB rgb2ycbcr, rounded), float64 in [16, 235]."""
    x = rgb.astype(np.float64)
    y = 16.0 + (65.481 * x[..., 0] + 128.553 * x[..., 1] + 24.966 * x[..., 2]) / 255.0
    return np.round(y)


def _blocks(y: np.ndarray) -> np.ndarray:
    """(H, W) -> (n_blocks, 8, 8), dropping a margin narrower than a block."""
    h, w = (y.shape[0] // B) * B, (y.shape[1] // B) * B
    y = y[:h, :w]
    return y.reshape(h // B, B, w // B, B).swapaxes(1, 2).reshape(-1, B, B)


def _unnormalised_variance(blocks: np.ndarray) -> np.ndarray:
    """The reference's vari(x) = var(x(:)) * numel(x), with MATLAB's var normalised by n - 1:
    the sum of squared deviations times n / (n - 1) (so 64/63 for a block, 16/15 for a quadrant)."""
    flat = blocks.reshape(blocks.shape[0], -1)
    n = flat.shape[1]
    return ((flat - flat.mean(axis=1, keepdims=True)) ** 2).sum(axis=1) * n / (n - 1)


def _masking_energy(blocks: np.ndarray, dct: np.ndarray) -> np.ndarray:
    """The reference's maskeff(): AC energy weighted by the masking weights, scaled by how much of
    the block's variance survives splitting it into four 4x4 quadrants (edges mask less)."""
    ac = dct * dct * MASK_WEIGHTS
    energy = ac.reshape(ac.shape[0], -1).sum(axis=1) - ac[:, 0, 0]
    total = _unnormalised_variance(blocks)
    h = B // 2
    quadrants = sum(_unnormalised_variance(blocks[:, r : r + h, c : c + h]) for r in (0, h) for c in (0, h))
    ratio = np.divide(quadrants, total, out=np.zeros_like(total), where=total != 0)
    return np.sqrt(energy * ratio) / 32.0


def _mse_hvs_hvsm(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """Mean squared CSF-weighted DCT errors per coefficient of two luma planes: (HVS, HVS-M)."""
    ba, bb = _blocks(a), _blocks(b)
    if ba.shape[0] == 0:
        raise SalicodecError("PSNR-HVS needs images of at least 8x8 pixels")
    da = _C @ ba @ _C.T
    db = _C @ bb @ _C.T
    err = np.abs(da - db)
    hvs = (err * CSF) ** 2
    mask = np.maximum(_masking_energy(ba, da), _masking_energy(bb, db))
    threshold = mask[:, None, None] / MASK_WEIGHTS
    masked = np.maximum(err - threshold, 0.0)
    masked[:, 0, 0] = err[:, 0, 0]  # the DC coefficient is never masked
    hvsm = (masked * CSF) ** 2
    return float(hvs.mean()), float(hvsm.mean())


def _to_psnr(mse: float) -> float:
    return math.inf if mse == 0 else 10.0 * math.log10(255.0 * 255.0 / mse)


def psnr_hvs_hvsm(ref: np.ndarray, dist: np.ndarray) -> tuple[float, float]:
    """(PSNR-HVS, PSNR-HVS-M) in dB of two RGB uint8 images, on their studio-range luma."""
    check_pair(ref, dist)
    hvs, hvsm = _mse_hvs_hvsm(studio_luma(ref), studio_luma(dist))
    return _to_psnr(hvs), _to_psnr(hvsm)


def psnr_hvs(ref: np.ndarray, dist: np.ndarray) -> float:
    return psnr_hvs_hvsm(ref, dist)[0]


def psnr_hvsm(ref: np.ndarray, dist: np.ndarray) -> float:
    return psnr_hvs_hvsm(ref, dist)[1]
