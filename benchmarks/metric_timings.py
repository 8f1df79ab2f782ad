"""Time of each metric on one 768x512 Kodak pair (kodim01 vs its JPEG q50), on this CPU.

    PYTHONPATH=. python benchmarks/metric_timings.py [--repeat 3]

Deep metrics: the one-off network load is reported apart from the per-pair time.
"""
from __future__ import annotations

import argparse
import io
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from salicodec.imageio import load_rgb, shared_dir  # noqa: E402
from salicodec.metrics import compute  # noqa: E402
from salicodec.metrics.lpips import lpips  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    ref = load_rgb(shared_dir() / "data" / "kodak" / "kodim01.png")
    buf = io.BytesIO()
    Image.fromarray(ref).save(buf, "JPEG", quality=50)
    dist = np.array(Image.open(buf).convert("RGB"))
    mask = np.zeros(ref.shape[:2])
    mask[128:384, 192:576] = 1.0
    print(f"pair: kodim01 {ref.shape[1]}x{ref.shape[0]} vs JPEG q50; best of {args.repeat} runs, seconds\n")
    print("| metric | value | seconds per pair | one-off load (s) |\n|---|---|---|---|")
    for name in ["psnr", "psnr-y", "ssim", "ms-ssim", "psnr-hvs", "psnr-hvs-m", "vifp", "psnr-s", "lpips", "lpips-alex"]:
        load = ""
        if name.startswith("lpips"):
            t = time.perf_counter()
            lpips(ref[:32, :32].copy(), ref[:32, :32].copy(), net="vgg" if name == "lpips" else "alex",
                  lin_weights="lpips-vgg" if name == "lpips" else "lpips-alex")
            load = f"{time.perf_counter() - t:.2f}"
        times = []
        for _ in range(args.repeat):
            t = time.perf_counter()
            v = compute(ref, dist, [name], saliency=mask)[name]
            times.append(time.perf_counter() - t)
        print(f"| {name} | {v:.4f} | {min(times):.3f} | {load} |")


if __name__ == "__main__":
    main()
