"""Saliency on the 24 Kodak images: time per image, peak memory, salient fractions, contact sheet.

    PYTHONPATH=. python benchmarks/saliency_kodak.py [--threads N] [--sheet docs/saliency_kodak.jpg]

Prints Markdown for docs/BENCHMARKS.md ("## Saliency"). Time is saliency_map() alone (resize,
normalise, U^2-Net-p on onnxruntime CPU, resize back), after one warm-up image; the session
creation is reported separately. Memory is the process's peak resident set (VmHWM).
"""
from __future__ import annotations

import argparse
import io
import sys
import time
from pathlib import Path

import numpy as np


def rss_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return -1


def main() -> int:
    from salicodec.imageio import load_rgb, save_image, shared_dir
    from salicodec.saliency import contact_sheet, grid_mask, overlay, salient_fraction
    from salicodec.saliency import u2netp

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kodak", type=Path, default=shared_dir() / "data" / "kodak")
    ap.add_argument("--threads", type=int, default=0, help="onnxruntime intra-op threads (0: all cores)")
    ap.add_argument("--sheet", type=Path, default=None, help="write the contact sheet of overlays here")
    ap.add_argument("--thresholds", default="0.3,0.5,0.7")
    ap.add_argument("--dilations", default="0,1,2")
    args = ap.parse_args()

    files = sorted(args.kodak.glob("kodim*.png"))
    if len(files) != 24:
        print(f"expected 24 Kodak images in {args.kodak}, found {len(files)}", file=sys.stderr)
        return 2
    images = [(f.stem, load_rgb(f)) for f in files]
    rss_before = rss_kib("VmRSS")
    t0 = time.perf_counter()
    u2netp.session(args.threads)
    t_session = time.perf_counter() - t0
    u2netp.saliency_map(images[0][1], threads=args.threads)  # warm-up
    probs, times = {}, []
    for name, rgb in images:
        t0 = time.perf_counter()
        probs[name] = u2netp.saliency_map(rgb, threads=args.threads)
        times.append(time.perf_counter() - t0)
    peak = rss_kib("VmHWM")

    times = np.array(times)
    print(f"onnxruntime {__import__('onnxruntime').__version__}, intra-op threads {args.threads or 'default'}")
    print(f"session creation: {t_session:.2f} s")
    print(f"time per image (24 Kodak, 768x512): mean {times.mean():.3f} s, median {np.median(times):.3f} s, "
          f"min {times.min():.3f} s, max {times.max():.3f} s")
    print(f"resident memory: {rss_before / 1024:.0f} MiB before the session, peak {peak / 1024:.0f} MiB")
    print()

    thresholds = [float(t) for t in args.thresholds.split(",")]
    dilations = [int(d) for d in args.dilations.split(",")]
    print("| threshold | dilate | images with 2% <= fraction <= 80% | median fraction |")
    print("|---|---|---|---|")
    for t in thresholds:
        for d in dilations:
            fr = np.array([salient_fraction(grid_mask(p, threshold=t, dilate=d)) for p in probs.values()])
            ok = int(((fr >= 0.02) & (fr <= 0.80)).sum())
            print(f"| {t} | {d} | {ok}/24 | {100 * np.median(fr):.1f}% |")
    print()
    print("Per image, default grid mask (threshold 0.5, dilate 1):")
    print()
    print("| image | " + " | ".join(n[-2:] for n in probs) + " |")
    print("|---|" + "---|" * len(probs))
    fr = [salient_fraction(grid_mask(p)) for p in probs.values()]
    print("| salient % | " + " | ".join(f"{100 * f:.1f}" for f in fr) + " |")

    if args.sheet is not None:
        tiles = []
        for (name, rgb), f in zip(images, fr):
            tiles.append((f"{name}  {100 * f:.1f}%", overlay(rgb, probs[name], grid_mask(probs[name]))))
        sheet = contact_sheet(tiles, columns=6, tile_height=192)
        buf = io.BytesIO()
        sheet.save(buf, format="JPEG", quality=85)
        from salicodec.imageio import atomic_write_bytes

        atomic_write_bytes(args.sheet, buf.getvalue(), force=True)
        print(f"\ncontact sheet: {args.sheet}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
