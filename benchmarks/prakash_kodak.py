"""The Prakash et al. (DCC 2018) table on Kodak: standard JPEG q50 vs the saliency JPEG at the same size.

    PYTHONPATH=. python benchmarks/prakash_kodak.py --out docs/prakash

Writes OUT_per_image.csv (one row per image and codec), OUT_tradeoff.csv and OUT_tradeoff.png (PSNR-S
gain against PSNR loss as the saliency strength varies), and prints the summary table (markdown).

Definitions. "Std JPEG" = libjpeg (Pillow) quality 50, YCbCr 4:2:0, standard Huffman tables, as
Prakash et al. wrote it (PIL `save(quality=50)`). "Ours" = salicodec.baselines.msroi_jpeg with
--size-of-quality 50 (file within 1 % of Std JPEG's size). Saliency = U^2-Net-p ('auto').
PSNR-S = PSNR over the salient pixels (saliency >= 0.5); images without salient pixels have no PSNR-S
and are left out of its mean (their count is printed). PSNR = RGB; PSNR-Y = full-range BT.601 luma.
PSNR-HVS, PSNR-HVS-M and VIFP come from salicodec.metrics.compute (luma; see the metrics docs).
--no-curve recomputes only the table (Std JPEG and --strength) and keeps OUT_tradeoff.* as they are.
"""
from __future__ import annotations

import argparse
import csv
import math
import sys
from pathlib import Path

import numpy as np

from salicodec.baselines import msroi_jpeg as M
from salicodec.imageio import load_rgb, shared_dir
from salicodec.metrics.classic import luma, msssim_rgb, ssim_rgb

EXTRA_METRICS = ("psnr-hvs", "psnr-hvs-m", "vifp")


def psnr(ref, dist, mask=None, y=False) -> float:
    a, b = (luma(ref), luma(dist)) if y else (ref.astype(np.float64), dist.astype(np.float64))
    d = (a - b) ** 2
    if mask is not None:
        if not mask.any():
            return math.nan
        d = d[mask] if y else d[mask, :]
    m = float(d.mean())
    return math.inf if m == 0 else 10 * math.log10(255.0**2 / m)


def extra_metrics(ref, dist) -> dict:
    try:
        from salicodec.metrics import compute
    except ImportError:
        return {k: math.nan for k in EXTRA_METRICS}
    values = compute(ref, dist, list(EXTRA_METRICS))
    return {k: float(values[k]) for k in EXTRA_METRICS}


def measure(ref, data: bytes, mask) -> dict:
    dist = M.decode(data)
    row = {
        "bytes": len(data),
        "bpp": 8.0 * len(data) / (ref.shape[0] * ref.shape[1]),
        "psnr-s": psnr(ref, dist, mask),
        "psnr-s-y": psnr(ref, dist, mask, y=True),
        "psnr": psnr(ref, dist),
        "psnr-y": psnr(ref, dist, y=True),
        "ssim": ssim_rgb(ref, dist),
        "ms-ssim": msssim_rgb(ref, dist),
    }
    row.update(extra_metrics(ref, dist))
    return row


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="docs/prakash", help="output prefix")
    ap.add_argument("--strength", type=float, default=M.MsroiJpegConfig().strength)
    ap.add_argument("--curve", default="1,4,6,8,12", help="strengths of the trade-off curve")
    ap.add_argument("--no-curve", action="store_true",
                    help="only the table at --strength; leave OUT_tradeoff.* untouched")
    ap.add_argument("--limit", type=int, default=None)
    args = ap.parse_args(argv)
    from salicodec.saliency import saliency_map
    from tqdm import tqdm

    files = sorted((shared_dir() / "data" / "kodak").glob("kodim*.png"))[: args.limit]
    if not files:
        print("Kodak not found under the shared folder", file=sys.stderr)
        return 2
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    strengths = sorted({float(s) for s in args.curve.split(",")} | {args.strength})
    curve_configs = ([("amplitude", s) for s in strengths] + [("threshold", 8.0)]
                     + [("multiple", 8.0)])
    if args.no_curve:
        curve_configs = [("amplitude", args.strength)]
    rows, curve_rows = [], []
    for f in tqdm(files, desc="kodak"):
        rgb = load_rgb(f)
        prob = saliency_map(rgb)
        mask = prob >= 0.5
        std = M.standard_jpeg(rgb, 50)
        std_row = measure(rgb, std, mask)
        rows.append({"image": f.name, "codec": "std-jpeg-q50", "salient_fraction": float(mask.mean()), **std_row})
        for method, s in curve_configs:
            cfg = M.MsroiJpegConfig(strength=s, method=method)
            r = M.encode(rgb, prob, target_bytes=len(std), config=cfg)
            dist = M.decode(r.data)
            entry = {"image": f.name, "method": method, "strength": s, "size_ratio": len(r.data) / len(std),
                     "within_1pct": M.within_tolerance(len(r.data), len(std)),
                     "base_quality": r.base_quality,
                     "d_psnr": psnr(rgb, dist) - std_row["psnr"], "d_psnr_y": psnr(rgb, dist, y=True) - std_row["psnr-y"],
                     "d_psnr_s": psnr(rgb, dist, mask) - std_row["psnr-s"],
                     "d_psnr_s_y": psnr(rgb, dist, mask, y=True) - std_row["psnr-s-y"]}
            curve_rows.append(entry)
            if method == "amplitude" and s == args.strength:
                rows.append({"image": f.name, "codec": f"msroi-jpeg-s{s:g}", "salient_fraction": float(mask.mean()),
                             **measure(rgb, r.data, mask), "base_quality": r.base_quality})
    write_csv(Path(f"{out}_per_image.csv"), rows)
    print(summary(rows))
    print(curve_summary(curve_rows))
    if not args.no_curve:
        write_csv(Path(f"{out}_tradeoff.csv"), curve_rows)
        plot_curve(curve_rows, Path(f"{out}_tradeoff.png"))
    return 0


def write_csv(path: Path, rows: list[dict]) -> None:
    keys = list(dict.fromkeys(k for r in rows for k in r))
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, keys)
        w.writeheader()
        for r in rows:
            w.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in r.items()})


def summary(rows) -> str:
    cols = ["bpp", "psnr-s", "psnr-s-y", "psnr", "psnr-y", "psnr-hvs", "psnr-hvs-m", "ssim", "ms-ssim", "vifp"]
    lines = ["| codec | " + " | ".join(cols) + " |", "|---" * (len(cols) + 1) + "|"]
    for codec in dict.fromkeys(r["codec"] for r in rows):
        sel = [r for r in rows if r["codec"] == codec]
        vals = []
        for c in cols:
            v = np.array([r[c] for r in sel], dtype=float)
            v = v[np.isfinite(v)]
            vals.append("n/a" if v.size == 0 else (f"{v.mean():.4f}" if c in ("ssim", "ms-ssim", "vifp", "bpp") else f"{v.mean():.2f}"))
        lines.append(f"| {codec} | " + " | ".join(vals) + " |")
    n_sal = sum(1 for r in rows if r["codec"] == "std-jpeg-q50" and np.isfinite(r["psnr-s"]))
    n_all = sum(1 for r in rows if r["codec"] == "std-jpeg-q50")
    return "\n".join(lines) + f"\n\nPSNR-S over the {n_sal} of {n_all} images that have salient pixels.\n"


def curve_summary(curve_rows) -> str:
    lines = ["| method | strength | mean size / std | images within 1 % | ΔPSNR-S (RGB) | ΔPSNR-S (Y) | ΔPSNR (RGB) | ΔPSNR (Y) |",
             "|---|---|---|---|---|---|---|---|"]
    for key in dict.fromkeys((r["method"], r["strength"]) for r in curve_rows):
        sel = [r for r in curve_rows if (r["method"], r["strength"]) == key]
        m = lambda k: float(np.nanmean([r[k] for r in sel]))  # noqa: E731
        ok = sum(bool(r["within_1pct"]) for r in sel)
        lines.append(f"| {key[0]} | {key[1]:g} | {m('size_ratio'):.4f} | {ok}/{len(sel)} | {m('d_psnr_s'):+.2f} | {m('d_psnr_s_y'):+.2f} | "
                     f"{m('d_psnr'):+.2f} | {m('d_psnr_y'):+.2f} |")
    return "\n".join(lines) + "\n"


def plot_curve(curve_rows, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4.2))
    for method, marker in (("amplitude", "o"), ("threshold", "^"), ("multiple", "s")):
        keys = [k for k in dict.fromkeys(r["strength"] for r in curve_rows if r["method"] == method)]
        xs = [-np.nanmean([r["d_psnr"] for r in curve_rows if r["method"] == method and r["strength"] == s]) for s in keys]
        ys = [np.nanmean([r["d_psnr_s"] for r in curve_rows if r["method"] == method and r["strength"] == s]) for s in keys]
        ax.plot(xs, ys, marker=marker, label=f"ours, {method}")
        for s, x, y in zip(keys, xs, ys):
            ax.annotate(f"{s:g}", (x, y), textcoords="offset points", xytext=(4, -10), fontsize=7)
    ax.scatter([-0.12], [5.25], marker="*", s=120, color="k", label="Prakash et al. (their metrics)")
    ax.axvline(0.3, color="grey", ls=":", lw=1)
    ax.set_xlabel("PSNR loss vs Std JPEG q50 (RGB, dB)")
    ax.set_ylabel("PSNR-S gain vs Std JPEG q50 (RGB, dB)")
    ax.set_title("Kodak, same file size as JPEG q50 (labels: saliency strength)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
