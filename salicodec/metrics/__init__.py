"""Full-reference image quality metrics. All take RGB uint8 arrays (H, W, 3) of equal size.

The deep perceptual loss for training (torch tensors in [0, 1]) is `DeepPerceptualLoss` and
`saliency_weighted_dpl` (Patel et al. Eq. 1 and Eq. 13), in `salicodec.metrics.lpips`.
"""
from .classic import msssim_db, msssim_rgb, psnr_luma, psnr_rgb, ssim_rgb
from .lpips import LPIPS, DeepPerceptualLoss, saliency_weighted_dpl

__all__ = [
    "psnr_rgb",
    "psnr_luma",
    "ssim_rgb",
    "msssim_rgb",
    "msssim_db",
    "LPIPS",
    "DeepPerceptualLoss",
    "saliency_weighted_dpl",
]
