"""Figures: rate–distortion curves with the published anchors overlaid, and a crop comparison
in the manner of the paper's Fig. 6 (kodim15's face at 0.23 bpp, one panel per codec)."""
from __future__ import annotations

import io
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ..imageio import atomic_write_bytes, load_rgb  # noqa: E402
from . import anchors  # noqa: E402

AXIS = {"psnr": "RGB PSNR (dB)", "ms-ssim-db": "MS-SSIM (dB) = -10 log10(1 - MS-SSIM)",
        "lpips": "LPIPS, VGG-16 (lower is better)", "lpips-alex": "LPIPS, AlexNet (lower is better)",
        "psnr-s": "PSNR-S (dB)"}
# Fig. 6 of Patel et al.: kodim15 at 0.23 bpp, the painted eye and the lips (x, y, width, height).
FIG6_IMAGE, FIG6_TARGET, FIG6_BOX = "kodim15", 0.23, (370, 64, 256, 320)


def _save(fig, path: Path) -> None:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue(), force=True)


def rd_plot(summary: dict[str, list[dict]], metric: str, path: Path, max_bpp: float = 1.25) -> bool:
    """One RD plot; False (nothing written) when no codec has the metric."""
    if not any(metric in rows[0] for rows in summary.values()):
        return False
    fig, ax = plt.subplots(figsize=(7.5, 5.5))
    for curve in anchors.load_curves():
        x, y = curve.series(metric)
        keep = [i for i, b in enumerate(x) if b <= max_bpp * 1.1]
        if len(keep) >= 2:
            ax.plot([x[i] for i in keep], [y[i] for i in keep], "--", lw=1.0, alpha=0.75, label=curve.label)
    # Eleven and more curves: matplotlib's default cycle repeats after ten colours, so take the
    # ten hues of tab20 first and their light shades after; ours are drawn with squares.
    tab20 = plt.get_cmap("tab20").colors
    palette = tab20[0::2] + tab20[1::2]
    measured = [(c, rows) for c, rows in summary.items()  # a codec whose points lack it is left out
                if all(metric in r and r[metric] is not None and np.isfinite(r[metric]) for r in rows)]
    for i, (codec, rows) in enumerate(measured):
        marker = "-s" if codec.startswith("ours") else "-o"
        ax.plot([r["bpp"] for r in rows], [r[metric] for r in rows], marker, lw=1.8, ms=4,
                color=palette[i % len(palette)], label=f"{codec} (measured)")
    ax.set_xlabel("bits per pixel (mean achieved)")
    ax.set_ylabel(AXIS.get(metric, metric))
    ax.set_xlim(0, max_bpp)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper right" if metric.startswith("lpips") else "lower right")
    ax.set_title(f"Kodak: {metric} vs rate")
    _save(fig, path)
    return True


def crop_figure(records: list[dict], out: Path, path: Path, image: str = FIG6_IMAGE,
                target: float = FIG6_TARGET, box=FIG6_BOX, dataset: Path | None = None) -> bool:
    """Original crop + every codec's reconstruction crop at the rate closest to `target`."""
    recs = [r for r in records if Path(r["image"]).stem == image]
    if not recs or dataset is None:
        return False
    codecs = list(dict.fromkeys(r["codec"] for r in recs))
    chosen = [min((r for r in recs if r["codec"] == c), key=lambda r: abs(math.log(r["bpp"] / target))) for c in codecs]
    src = next((p for p in dataset.iterdir() if p.stem == image), None)
    if src is None:
        return False
    ref = load_rgb(src)
    x, y = min(box[0], ref.shape[1] // 2), min(box[1], ref.shape[0] // 2)  # keep the crop inside
    w, h = min(box[2], ref.shape[1] - x), min(box[3], ref.shape[0] - y)
    panels = [("original", ref)] + [
        (f"{r['codec']}\n{r['bpp']:.3f} bpp, {r['metrics'].get('psnr', math.nan):.2f} dB", load_rgb(out / r["recon"])) for r in chosen]
    cols = min(len(panels), 5)
    rows = math.ceil(len(panels) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(2.6 * cols, 3.4 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, (title, rgb) in zip(axes.flat, panels):
        ax.imshow(np.ascontiguousarray(rgb[y:y + h, x:x + w]), interpolation="nearest")
        ax.set_title(title, fontsize=8)
    fig.suptitle(f"{image}, crop ({x},{y}) {w}x{h}, target {target} bpp", fontsize=9)
    _save(fig, path)
    return True
