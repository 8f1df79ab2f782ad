"""Issue #5's quality goals, from a `salicodec eval` output folder (its summary.json): our models against the
standard codecs at the same bpp (each codec's mean curve interpolated, linear in log bpp, at the
mean bpp our model achieved; outside a codec's measured range its end point is used and marked).

    python benchmarks/quality_goals.py out/kodak [--ours FAMILY]

FAMILY is the curve of ours to judge (default `ours`; e.g. `ours-refine100`, the same models with
100 steps of encoder-side latent refinement).
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from salicodec.evaluation.bdrate import quality_at_rate

GOALS = [  # (metric, lower is better, codecs that ours must beat, model targets where it applies)
    ("lpips", True, ("jpeg2000", "webp"), (0.23, 0.37, 0.67, 1.0)),
    ("lpips", True, ("heic",), (0.23, 0.37)),
    ("ms-ssim", False, ("jpeg2000",), (0.23, 0.37, 0.67, 1.0)),
    ("psnr", False, ("jpeg-420", "jpeg-444"), (0.23, 0.37, 0.67, 1.0)),
]


def curves(out_dir: Path) -> dict:
    """codec -> mean points per target, as the eval summarised them (report.summarise)."""
    return json.loads((out_dir / "summary.json").read_text())["summary"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out_dir", type=Path, help="a salicodec eval output folder (its summary.json)")
    ap.add_argument("--ours", default="ours", help="the curve of ours to judge (default: ours)")
    a = ap.parse_args()
    c, family = curves(a.out_dir), a.ours
    if family not in c:
        raise SystemExit(f"{a.out_dir}: no curve {family!r} (have: {', '.join(sorted(c))})")
    print(f"| model (target) | {family} bpp | metric | {family} | codec | codec at that bpp | {family} better |")
    print("|---|---|---|---|---|---|---|")
    for metric, lower, rivals, targets in GOALS:
        for p in c[family]:
            if p["target_bpp"] not in targets:
                continue
            for rival in rivals:
                v, inside = quality_at_rate([q["bpp"] for q in c[rival]], [q[metric] for q in c[rival]], p["bpp"])
                better = p[metric] < v if lower else p[metric] > v
                mark = "" if inside else " (end point)"
                print(f"| {p['target_bpp']:.2f} | {p['bpp']:.3f} | {metric} | {p[metric]:.4f} | {rival} | {v:.4f}{mark} | "
                      f"{'yes' if better else 'no'} |")


if __name__ == "__main__":
    main()
