"""Kodak figures of checkpoints from their forward pass (no files written), for quick comparisons.

    python benchmarks/kodak_forward.py CKPT [CKPT ...] [--importance-weight L] [--images N] [--lpips-net alex]

Each checkpoint (a training checkpoint or a zoo file, rounded through fp16 as the shipped models
are) codes every image with saliency `auto` through `benchmarks/ablations_kodak.py`'s measure():
hard quantisation (the decoder's reconstruction bit for bit) and the rate of Eq. 12 plus the
coded channel counts (the real files match it within 0.3 %). Prints the means of bpp, PSNR,
MS-SSIM, LPIPS (VGG, or AlexNet with `--lpips-net alex`: the key is then `lpips_alex`) and
PSNR-S. `--importance-weight` overrides λ2 of the channel mask.
"""
from __future__ import annotations

import argparse
import json

import numpy as np
import torch

from ablations_kodak import load_checkpoint, measure
from salicodec.imageio import load_rgb, shared_dir
from salicodec.metrics import LPIPS
from salicodec.saliency import saliency_map


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checkpoints", nargs="+")
    ap.add_argument("--importance-weight", type=float, default=None)
    ap.add_argument("--images", type=int, default=24)
    ap.add_argument("--lpips-net", choices=("vgg", "alex"), default="vgg")
    a = ap.parse_args()
    torch.set_num_threads(1)
    files = sorted((shared_dir() / "data" / "kodak").glob("*.png"))[: a.images]
    rgbs = [load_rgb(f) for f in files]
    images = [(rgb, np.asarray(saliency_map(rgb), dtype=np.float32)) for rgb in rgbs]
    lpips_fn = LPIPS(a.lpips_net)  # with its own LPIPS v0.1 linear weights
    lpips_key = "lpips" if a.lpips_net == "vgg" else "lpips_alex"
    for path in a.checkpoints:
        model = load_checkpoint(path)
        if a.importance_weight is not None:
            model.cfg.importance_weight = a.importance_weight
        rows = [measure(model, rgb, prob, True, lpips_fn) for rgb, prob in images]
        means = {k: round(float(np.mean([r[k] for r in rows])), 4) for k in ("bpp", "psnr", "ms_ssim", "lpips", "psnr_s")}
        means[lpips_key] = means.pop("lpips")  # measure() calls whatever network it is given "lpips"
        print(json.dumps({"checkpoint": path, "importance_weight": model.cfg.importance_weight,
                          "images": len(rows), **means}), flush=True)


if __name__ == "__main__":
    main()
