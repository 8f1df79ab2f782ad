"""Full-reference image quality metrics. All take RGB uint8 arrays (H, W, 3) of equal size."""
from .classic import msssim_db, msssim_rgb, psnr_luma, psnr_rgb, ssim_rgb

__all__ = ["psnr_rgb", "psnr_luma", "ssim_rgb", "msssim_rgb", "msssim_db"]
