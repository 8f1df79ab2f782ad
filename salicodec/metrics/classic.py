"""Classic full-reference metrics on RGB uint8 arrays (H, W, 3): PSNR (RGB, luma), SSIM, MS-SSIM.

SSIM and MS-SSIM come from pytorch-msssim (Gaussian window 11, sigma 1.5, the standard settings of
Wang et al.), computed on RGB in [0, 255] and averaged over channels, as CompressAI reports them.
"""
from __future__ import annotations

import math

import numpy as np
import torch
from pytorch_msssim import ms_ssim, ssim

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
    return torch.from_numpy(np.ascontiguousarray(a)).permute(2, 0, 1)[None].double()


def ssim_rgb(ref: np.ndarray, dist: np.ndarray) -> float:
    check_pair(ref, dist)
    if min(ref.shape[:2]) < 11:
        raise SalicodecError("SSIM needs images of at least 11x11 pixels")
    return float(ssim(_as_tensor(ref), _as_tensor(dist), data_range=255.0, size_average=True))


def msssim_rgb(ref: np.ndarray, dist: np.ndarray) -> float:
    """MS-SSIM with 5 scales; the image needs a short side above 160 pixels (pytorch-msssim)."""
    check_pair(ref, dist)
    if min(ref.shape[:2]) <= 160:
        raise SalicodecError("MS-SSIM needs images with a short side above 160 pixels")
    return float(ms_ssim(_as_tensor(ref), _as_tensor(dist), data_range=255.0, size_average=True))


def msssim_db(value: float) -> float:
    """MS-SSIM on the dB scale used by the anchors: -10 log10(1 - MS-SSIM)."""
    return math.inf if value >= 1.0 else -10.0 * math.log10(1.0 - value)
