"""Issue #5's quality goals, from a `salicodec eval` output folder (its summary.json): our models against the
standard codecs at the same bpp (each codec's mean curve interpolated, linear in log bpp, at the
mean bpp our model achieved; outside a codec's measured range its end point is used and marked).

    python benchmarks/quality_goals.py out/kodak [--ours FAMILY] [--lpips lpips-alex] [--images kodim01,...]

FAMILY is the curve of ours to judge (default `ours`; e.g. `ours-refine100`, the same models with
100 steps of encoder-side latent refinement). --lpips lpips-alex judges the LPIPS goals with
LPIPS-AlexNet (the LPIPS authors' default) instead of LPIPS-VGG, the network of our training loss.
--images judges on those images only (every curve re-averaged from per_image.csv), for a curve
of ours measured on part of the set.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from salicodec.evaluation import report
from salicodec.evaluation.bdrate import quality_at_rate

GOALS = [  # (metric, lower is better, codecs that ours must beat, model targets where it applies)
    ("lpips", True, ("jpeg2000", "webp"), (0.23, 0.37, 0.67, 1.0)),
    ("lpips", True, ("heic",), (0.23, 0.37)),
    ("ms-ssim", False, ("jpeg2000",), (0.23, 0.37, 0.67, 1.0)),
    ("psnr", False, ("jpeg-420", "jpeg-444"), (0.23, 0.37, 0.67, 1.0)),
]


def curves(out_dir: Path, images: list[str] | None = None) -> dict:
    """codec -> mean points per target, as the eval summarised them (report.summarise); with
    images, summarised again over those images' records only."""
    if not images:
        return json.loads((out_dir / "summary.json").read_text())["summary"]
    records, metric_names = report.read_csv(out_dir / "per_image.csv")
    stems = {r["image"].rsplit(".", 1)[0]: r["image"] for r in records}
    missing = [i for i in images if i not in stems]
    if missing:
        raise SystemExit(f"{out_dir}: no records of {', '.join(missing)}")
    chosen = {stems[i] for i in images}
    # as summary.json stores it: a mean that cannot be taken is None
    return report.json_safe(report.summarise([r for r in records if r["image"] in chosen], metric_names))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out_dir", type=Path, help="a salicodec eval output folder (its summary.json)")
    ap.add_argument("--ours", default="ours", help="the curve of ours to judge (default: ours)")
    ap.add_argument("--lpips", default="lpips", choices=["lpips", "lpips-alex"],
                    help="the LPIPS of the LPIPS goals (default: lpips, VGG-16)")
    ap.add_argument("--images", help="comma list of image names (e.g. kodim01,kodim02): judge on these only")
    a = ap.parse_args()
    c, family = curves(a.out_dir, a.images.split(",") if a.images else None), a.ours
    if family not in c:
        raise SystemExit(f"{a.out_dir}: no curve {family!r} (have: {', '.join(sorted(c))})")
    goals = [(a.lpips if m == "lpips" else m, *rest) for m, *rest in GOALS]
    print(f"| model (target) | {family} bpp | metric | {family} | codec | codec at that bpp | {family} better |")
    print("|---|---|---|---|---|---|---|")
    for metric, lower, rivals, targets in goals:
        for p in c[family]:
            if p["target_bpp"] not in targets:
                continue
            if p.get(metric) is None:
                print(f"| {p['target_bpp']:.2f} | {p['bpp']:.3f} | {metric} | not measured | | | |")
                continue
            for rival in rivals:
                if any(q.get(metric) is None for q in c[rival]):
                    print(f"| {p['target_bpp']:.2f} | {p['bpp']:.3f} | {metric} | {p[metric]:.4f} | {rival} | not measured | |")
                    continue
                v, inside = quality_at_rate([q["bpp"] for q in c[rival]], [q[metric] for q in c[rival]], p["bpp"])
                better = p[metric] < v if lower else p[metric] > v
                mark = "" if inside else " (end point)"
                print(f"| {p['target_bpp']:.2f} | {p['bpp']:.3f} | {metric} | {p[metric]:.4f} | {rival} | {v:.4f}{mark} | "
                      f"{'yes' if better else 'no'} |")


if __name__ == "__main__":
    main()
