"""bfloat16 against float32 on this machine, for the two places salicodec uses bf16 for speed.

    python benchmarks/bf16_speed.py [--image kodim01] [--model NAME] [--steps 2] [--threads 1]

1. The deep perceptual loss of Eq. 13 (VGG-16 on a salient and a background copy of the image,
   forward and backward through x^): what a DPL term would cost per step of the latent search,
   and per image in training.
2. The latent search itself (models/refine.py): `--steps` steps of refine_latents, each
   precision timed after one warm-up step.

bf16 is only a speed choice; `hardware.bf16_is_fast` decides where salicodec takes it. Prints
one line per measurement and whether oneDNN reports bf16 kernels for this CPU.
"""
from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from salicodec import api
from salicodec.hardware import bf16_is_fast
from salicodec.metrics.lpips import DeepPerceptualLoss, saliency_weighted_dpl
from salicodec.models import zoo
from salicodec.models.refine import refine_latents
from salicodec.imageio import shared_dir


def _timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--image", default="kodim01", help="a Kodak image name (default kodim01)")
    ap.add_argument("--model", default=None, help="zoo model (default: the default model)")
    ap.add_argument("--steps", type=int, default=2, help="timed search steps per precision (default 2)")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(f"threads {args.threads}; oneDNN bf16 kernels: {bf16_is_fast('cpu')}; cpu: {os.cpu_count()} cores")

    rgb = np.asarray(Image.open(Path(shared_dir()) / "data" / "kodak" / f"{args.image}.png").convert("RGB"))
    h, w = rgb.shape[:2]
    x = api.pad_to_multiple(rgb)
    s_px = torch.zeros_like(x[:, :1])
    s_px[..., h // 4: 3 * h // 4, w // 4: 3 * w // 4] = 1.0  # a salient centre: both copies non-empty

    for dtype in (torch.float32, torch.bfloat16):
        dpl = DeepPerceptualLoss(backbone_dtype=dtype)
        x_hat = (x + 0.05 * torch.randn_like(x)).clamp(0, 1).requires_grad_(True)

        def step():
            saliency_weighted_dpl(dpl, x, x_hat, s_px).sum().backward()
        step()  # warm-up
        print(f"DPL forward+backward, 2 copies of {x.shape[3]}x{x.shape[2]}, {dtype}: {_timed(step):.2f} s", flush=True)

    net = zoo.load_model(args.model or zoo.default_model().name)
    grid = (x.shape[2] // 8, x.shape[3] // 8)
    s = api.saliency_tensor("auto", rgb, grid)
    with torch.no_grad():
        e = net.e1(x)
        y = e[:, : net.cfg.channels]
        k1 = net._analysis(x, s)["k1"]
    for bf16 in (False, True):
        refine_latents(net, x, y, k1, s, (h, w), steps=1, bf16=bf16)  # warm-up
        t = _timed(lambda: refine_latents(net, x, y, k1, s, (h, w), steps=args.steps, bf16=bf16))
        print(f"latent search, {args.steps} steps, {'bf16 autocast' if bf16 else 'float32'}: "
              f"{t / args.steps:.2f} s per step (exact float32 check included)", flush=True)


if __name__ == "__main__":
    main()
