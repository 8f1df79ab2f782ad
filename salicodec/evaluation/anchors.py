"""Published and earlier-measured Kodak RD curves from shared/anchors, for plots and tables.

Each curve: label, source and points {bpp, psnr, ms-ssim-db, lpips} (whichever the source has).
Missing shared data gives no curves (the report says so), never an error.
"""
from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from pathlib import Path

from ..imageio import shared_dir

# CompressAI files shown on the plots, with the label they get.
COMPRESSAI = {
    "bpg_444_x265_ycbcr": "BPG 4:4:4 x265 (published, CompressAI)",
    "vtm": "VTM (published, CompressAI)",
    "jpeg2000": "JPEG 2000 ffmpeg (published, CompressAI)",
    "compressai-mbt2018_mse_cpu": "mbt2018 MSE (published, CompressAI)",
    "compressai-mbt2018_ms-ssim_cpu": "mbt2018 MS-SSIM (published, CompressAI)",
}


@dataclass
class Curve:
    label: str
    source: str
    points: list[dict] = field(default_factory=list)

    def series(self, metric: str) -> tuple[list[float], list[float]]:
        pts = sorted((p["bpp"], p[metric]) for p in self.points if metric in p and math.isfinite(p[metric]))
        return [b for b, _ in pts], [v for _, v in pts]


def anchors_dir() -> Path:
    return shared_dir() / "anchors"


def _rows(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _msssim_db(v: float) -> float:
    return -10.0 * math.log10(1.0 - v)


def load_curves() -> list[Curve]:
    root = anchors_dir()
    if not root.is_dir():
        return []
    curves = []
    for stem, label in COMPRESSAI.items():
        path = root / "compressai_kodak" / f"{stem}.csv"
        if path.exists():
            rows = _rows(path)
            curves.append(Curve(label, rows[0]["source"] if rows else str(path), [
                {"bpp": float(r["bpp"]), "psnr": float(r["psnr_rgb"]), "ms-ssim-db": float(r["ms_ssim_db_rgb"])}
                for r in rows]))
    path = root / "mentzer2018_imgcomp_cvpr_kodak.csv"
    if path.exists():
        rows = [r for r in _rows(path) if r["kind"] == "fig1_curve"]
        curves.append(Curve("Mentzer 2018 (published)", "fab-jul/imgcomp-cvpr README",
                            [{"bpp": float(r["bpp"]), "ms-ssim-db": float(r["ms_ssim_db"])} for r in rows]))
    path = root / "hific_mentzer2020_tfc_data.csv"
    if path.exists():
        rows = [r for r in _rows(path) if r["dataset"] == "kodak"]
        curves.append(Curve("HiFiC (published; LPIPS likely AlexNet)", "tensorflow/compression models/hific/data.csv", [
            {"bpp": float(r["bpp"]), "psnr": float(r["PSNR"]), "ms-ssim-db": _msssim_db(float(r["MS-SSIM"])),
             "lpips": float(r["LPIPS"])} for r in rows]))
    return curves


def bpg_at(bpp: float, metric: str) -> float:
    """The published BPG 4:4:4 curve interpolated (PCHIP in log bpp) at `bpp`; NaN if unavailable."""
    from scipy.interpolate import PchipInterpolator

    for c in load_curves():
        if c.label.startswith("BPG"):
            x, y = c.series(metric)
            if len(x) >= 2 and x[0] <= bpp <= x[-1]:
                return float(PchipInterpolator([math.log(v) for v in x], y)(math.log(bpp)))
    return math.nan
