"""Full-reference image quality metrics. All take RGB uint8 arrays (H, W, 3) of equal size.

`compute(ref, dist, names, saliency=None)` evaluates any of `METRICS` by name. The deep perceptual
loss for training (torch tensors in [0, 1]) is `DeepPerceptualLoss` and `saliency_weighted_dpl`
(Patel et al. Eq. 1 and Eq. 13), in `salicodec.metrics.lpips`.
"""
from .classic import msssim_db, msssim_rgb, psnr_luma, psnr_rgb, psnr_salient, ssim_rgb
from .hvs import psnr_hvs, psnr_hvs_hvsm, psnr_hvsm
from .lpips import LPIPS, DeepPerceptualLoss, saliency_weighted_dpl
from .registry import DEFAULT_METRICS, METRICS, compute
from .vif import vifp

__all__ = [
    "psnr_rgb",
    "psnr_luma",
    "ssim_rgb",
    "msssim_rgb",
    "msssim_db",
    "psnr_salient",
    "psnr_hvs",
    "psnr_hvsm",
    "psnr_hvs_hvsm",
    "vifp",
    "LPIPS",
    "DeepPerceptualLoss",
    "saliency_weighted_dpl",
    "METRICS",
    "DEFAULT_METRICS",
    "compute",
]
