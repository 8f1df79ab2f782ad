"""The latent search with and without the DPL term (`compress(refine=N, refine_dpl=...)`) on crops.

    python benchmarks/refine_dpl_crops.py --model sali-gpu-0.67-v5 [--size 256] [--plans 0,30,100,30dpl]
                                          [--images kodim01,kodim05,kodim23]

A DPL step costs ~14x an MSE step on a CPU (docs/BENCHMARKS.md), too much for all of Kodak
there, so this probe codes a centre-left crop (rows 128.., columns 256..) of three Kodak images
(kodim01, kodim05, kodim23) as real files with each plan and reports bpp, PSNR, MS-SSIM and
LPIPS of the decoded crop, and the encode time. The evaluation's LPIPS is the network of the
DPL term, so its gain under `dpl` plans is not independent evidence; PSNR and MS-SSIM are.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from salicodec import api
from salicodec.imageio import shared_dir
from salicodec.metrics.classic import msssim_rgb, psnr_rgb
from salicodec.metrics.lpips import LPIPS

IMAGES = ("kodim01", "kodim05", "kodim23")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--plans", default="0,30,100,30dpl", help="refine steps, 'dpl' suffix adds the DPL term")
    ap.add_argument("--images", default=",".join(IMAGES), help="Kodak image names (default: the three)")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    lpips = LPIPS()
    print("| image | plan | bpp | PSNR dB | MS-SSIM | LPIPS | encode s |")
    print("|---|---|---|---|---|---|---|")
    for name in args.images.split(","):
        rgb = np.asarray(Image.open(Path(shared_dir()) / "data" / "kodak" / f"{name}.png").convert("RGB"))
        crop = np.ascontiguousarray(rgb[128: 128 + args.size, 256: 256 + args.size])
        for plan in args.plans.split(","):
            dpl = plan.endswith("dpl")
            steps = int(plan[:-3] if dpl else plan)
            t = time.perf_counter()
            data = api.compress(crop, args.model, refine=steps, refine_dpl=dpl)
            elapsed = time.perf_counter() - t
            rec = np.asarray(api.decompress(data).convert("RGB"))
            bpp = 8 * len(data) / (crop.shape[0] * crop.shape[1])
            print(f"| {name} | {plan} | {bpp:.4f} | {psnr_rgb(crop, rec):.2f} | {msssim_rgb(crop, rec):.4f} | "
                  f"{lpips(crop, rec):.4f} | {elapsed:.1f} |", flush=True)


if __name__ == "__main__":
    main()
