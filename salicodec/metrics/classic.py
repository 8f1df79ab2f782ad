"""Classic full-reference metrics on RGB uint8 arrays (H, W, 3): PSNR (RGB, luma), SSIM, MS-SSIM.

SSIM and MS-SSIM come from pytorch-msssim (Gaussian window 11, sigma 1.5, the standard settings of
Wang et al.), computed on RGB in [0, 255] and averaged over channels, as CompressAI reports them.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from ..errors import SalicodecError


def check_pair(ref: np.ndarray, dist: np.ndarray) -> None:
    for name, a in (("reference", ref), ("distorted", dist)):
        if not isinstance(a, np.ndarray) or a.dtype != np.uint8 or a.ndim != 3 or a.shape[2] != 3:
            raise SalicodecError(f"{name} image must be RGB uint8 (H, W, 3)")
    if ref.shape != dist.shape:
        raise SalicodecError(
            f"images differ in size: {ref.shape[1]}x{ref.shape[0]} vs {dist.shape[1]}x{dist.shape[0]}"
        )


def mse_to_psnr(mse: float, peak: float = 255.0) -> float:
    return math.inf if mse == 0 else 10.0 * math.log10(peak * peak / mse)


def psnr_rgb(ref: np.ndarray, dist: np.ndarray) -> float:
    """PSNR over all three RGB channels together (the convention of CompressAI's Kodak results)."""
    check_pair(ref, dist)
    d = ref.astype(np.float64) - dist.astype(np.float64)
    return mse_to_psnr(float(np.mean(d * d)))


def luma(rgb: np.ndarray) -> np.ndarray:
    """ITU-R BT.601 luma Y' in [0, 255] (the JPEG / JFIF conversion), as float64."""
    x = rgb.astype(np.float64)
    return 0.299 * x[..., 0] + 0.587 * x[..., 1] + 0.114 * x[..., 2]


def psnr_luma(ref: np.ndarray, dist: np.ndarray) -> float:
    check_pair(ref, dist)
    d = luma(ref) - luma(dist)
    return mse_to_psnr(float(np.mean(d * d)))


def _as_tensor(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.array(a, dtype=np.float64)).permute(2, 0, 1)[None]  # a writable copy


def ssim_rgb(ref: np.ndarray, dist: np.ndarray) -> float:
    check_pair(ref, dist)
    if min(ref.shape[:2]) < 11:
        raise SalicodecError("SSIM needs images of at least 11x11 pixels")
    from pytorch_msssim import ssim  # here: the training loss imports this package without it

    return float(ssim(_as_tensor(ref), _as_tensor(dist), data_range=255.0, size_average=True))


def msssim_rgb(ref: np.ndarray, dist: np.ndarray) -> float:
    """MS-SSIM with 5 scales; the image needs a short side above 160 pixels (pytorch-msssim)."""
    check_pair(ref, dist)
    if min(ref.shape[:2]) <= 160:
        raise SalicodecError("MS-SSIM needs images with a short side above 160 pixels")
    from pytorch_msssim import ms_ssim

    return float(ms_ssim(_as_tensor(ref), _as_tensor(dist), data_range=255.0, size_average=True))


def msssim_db(value: float) -> float:
    """MS-SSIM on the dB scale used by the anchors: -10 log10(1 - MS-SSIM)."""
    return math.inf if value >= 1.0 else -10.0 * math.log10(1.0 - value)


def check_saliency(mask: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """A saliency mask (H, W) as float64 in [0, 1]: bool, uint8 (0..255) or float in [0, 1]."""
    m = np.asarray(mask)
    if m.ndim == 3 and m.shape[2] in (1, 3):
        m = m[..., 0]
    if m.ndim != 2 or m.shape != tuple(shape[:2]):
        raise SalicodecError(
            f"saliency mask must be (H, W) = {shape[0]}x{shape[1]}, got shape {tuple(np.shape(mask))}"
        )
    if m.dtype == np.uint8:
        return m.astype(np.float64) / 255.0
    m = m.astype(np.float64)
    if not np.isfinite(m).all() or m.min() < 0 or m.max() > 1:
        raise SalicodecError("saliency mask values must lie in [0, 1] (or be uint8 0..255)")
    return m


def psnr_salient(ref: np.ndarray, dist: np.ndarray, saliency: np.ndarray) -> float:
    """PSNR-S (Prakash et al. 2017): RGB PSNR over the salient region only.

    With a binary mask this is the PSNR of the salient pixels; a soft mask weights each pixel's
    squared error by its saliency: MSE = Σ s·‖Δ‖² / (3 Σ s).
    """
    check_pair(ref, dist)
    s = check_saliency(saliency, ref.shape)
    total = float(s.sum())
    if total == 0:
        raise SalicodecError("saliency mask is empty: PSNR-S is undefined")
    d = ref.astype(np.float64) - dist.astype(np.float64)
    mse = float((s * (d * d).sum(axis=2)).sum()) / (3.0 * total)
    return mse_to_psnr(mse)
