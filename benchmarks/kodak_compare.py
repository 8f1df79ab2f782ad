"""Two curves of one summary side by side, point by point (same target): e.g. our models with and
without encoder-side latent refinement.

    python benchmarks/kodak_compare.py out/kodak_merged10/summary.json ours ours-refine100
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

# (summary key, column, decimals, how the change is shown: "delta", "percent" or "" for none)
METRICS = [("bpp", "bpp", 3, "percent"), ("psnr", "PSNR dB", 2, "delta"), ("ms-ssim", "MS-SSIM", 4, "delta"),
           ("lpips", "LPIPS", 4, "delta"), ("psnr-s", "PSNR-S dB", 2, "delta"), ("encode_s", "enc s", 1, ""),
           ("decode_s", "dec s", 2, ""), ("encode_peak_mib", "enc peak MiB", 0, "")]


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    summary = json.loads(Path(argv[0]).read_text())["summary"]
    a, b = argv[1], argv[2]
    for c in (a, b):
        if c not in summary:
            print(f"kodak_compare: no curve {c!r} in {argv[0]}", file=sys.stderr)
            return 2
    rows_b = {r["target_bpp"]: r for r in summary[b]}
    print(f"| target | images | {' | '.join(m[1] for m in METRICS)} |")
    print("|---|---|" + "---|" * len(METRICS))
    for ra in summary[a]:
        rb = rows_b.get(ra["target_bpp"])
        if rb is None:
            continue
        cells = []
        for key, _, nd, change in METRICS:
            va, vb = ra.get(key), rb.get(key)
            if va is None or vb is None:
                cells.append("–")
                continue
            shown = {"delta": f" ({vb - va:+.{nd}f})", "percent": f" ({100 * (vb / va - 1):+.1f} %)", "": ""}[change]
            cells.append(f"{va:.{nd}f} → {vb:.{nd}f}{shown}")
        print(f"| {ra['target_bpp']:.2f} | {ra['n_images']} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
