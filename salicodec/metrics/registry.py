"""One table of every full-reference metric: name, direction, function. The CLI, the 2AFC scorer
and the metric combination read it.

`compute(ref, dist, names, saliency=None, lpips_comp_weights=None) -> {name: value}` on RGB uint8
arrays (H, W, 3).

LPIPS-Comp reads learned per-channel weights (the LPIPS layout, see lpips.save_lin_weights) from
the `lpips_comp_weights` argument of `compute`, else `$SALICODEC_LPIPS_COMP`, else
`<weights cache>/lpips_comp_vgg.pth` (`~/.cache/salicodec`, or `$SALICODEC_HOME`); `salicodec metric train-2afc DATA -o FILE` makes one from 2AFC judgements.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from .. import weights as weights_mod
from ..errors import SalicodecError
from . import classic, hvs, vif

__all__ = ["Metric", "METRICS", "DEFAULT_METRICS", "compute", "lpips_comp_weights_path"]


@dataclass(frozen=True)
class Metric:
    name: str
    higher_is_better: bool
    description: str
    fn: Callable[[np.ndarray, np.ndarray, dict], float]
    needs_saliency: bool = False


def lpips_comp_weights_path() -> Path:
    env = os.environ.get("SALICODEC_LPIPS_COMP")
    return Path(env) if env else weights_mod.cache_dir() / "lpips_comp_vgg.pth"


def _hvs_pair(ref, dist, ctx) -> tuple[float, float]:
    if "hvs" not in ctx:  # PSNR-HVS and PSNR-HVS-M share their DCTs
        ctx["hvs"] = hvs.psnr_hvs_hvsm(ref, dist)
    return ctx["hvs"]


def _lpips(net: str, lin_weights) -> Callable:
    def fn(ref, dist, ctx) -> float:
        from .lpips import lpips

        spec = lin_weights(ctx) if callable(lin_weights) else lin_weights
        return lpips(ref, dist, net=net, lin_weights=spec)

    return fn


def _lpips_comp_spec(ctx: dict):
    given = ctx.get("lpips_comp_weights")
    p = Path(given) if given is not None else lpips_comp_weights_path()
    if not p.is_file():
        raise SalicodecError(
            f"no LPIPS-Comp weights at {p}: make them with `salicodec metric train-2afc DATA -o {p}` "
            "or point SALICODEC_LPIPS_COMP at a weights file"
        )
    return str(p)


def _psnr_s(ref, dist, ctx) -> float:
    if ctx.get("saliency") is None:
        raise SalicodecError("psnr-s needs a saliency mask (--saliency MASK)")
    return classic.psnr_salient(ref, dist, ctx["saliency"])


METRICS: dict[str, Metric] = {
    m.name: m
    for m in [
        Metric("psnr", True, "RGB PSNR (dB)", lambda r, d, c: classic.psnr_rgb(r, d)),
        Metric("psnr-y", True, "PSNR of BT.601 luma (dB)", lambda r, d, c: classic.psnr_luma(r, d)),
        Metric("ssim", True, "SSIM, RGB mean (pytorch-msssim)", lambda r, d, c: classic.ssim_rgb(r, d)),
        Metric("ms-ssim", True, "MS-SSIM, RGB mean (pytorch-msssim)", lambda r, d, c: classic.msssim_rgb(r, d)),
        Metric("psnr-hvs", True, "PSNR-HVS of studio-range luma (dB)", lambda r, d, c: _hvs_pair(r, d, c)[0]),
        Metric("psnr-hvs-m", True, "PSNR-HVS-M of studio-range luma (dB)", lambda r, d, c: _hvs_pair(r, d, c)[1]),
        Metric("vifp", True, "VIF-pixel of luma", lambda r, d, c: vif.vifp(r, d)),
        Metric("psnr-s", True, "RGB PSNR over the salient region (dB)", _psnr_s, needs_saliency=True),
        Metric("lpips", False, "LPIPS v0.1, VGG-16", _lpips("vgg", "lpips-vgg")),
        Metric("lpips-alex", False, "LPIPS v0.1, AlexNet", _lpips("alex", "lpips-alex")),
        Metric("lpips-comp", False, "VGG-16 with learned 2AFC weights", _lpips("vgg", _lpips_comp_spec)),
    ]
}

# What `salicodec metric` computes when no --metrics are given (psnr-s joins when a mask is given;
# lpips-comp only on request, since its weights are made by the user).
DEFAULT_METRICS = ("psnr", "psnr-y", "ssim", "ms-ssim", "psnr-hvs", "psnr-hvs-m", "vifp", "lpips", "lpips-alex")


def compute(ref: np.ndarray, dist: np.ndarray, names=DEFAULT_METRICS, saliency: np.ndarray | None = None,
            lpips_comp_weights: str | Path | None = None) -> dict[str, float]:
    """The named metrics of one pair; raises SalicodecError for an unknown name or bad input.

    lpips_comp_weights: a weights file from `salicodec metric train-2afc` for `lpips-comp`
    (default: `lpips_comp_weights_path()`)."""
    names = list(names)
    unknown = [n for n in names if n not in METRICS]
    if unknown:
        raise SalicodecError(f"unknown metric(s): {', '.join(unknown)}; known: {', '.join(METRICS)}")
    classic.check_pair(ref, dist)
    if saliency is not None:
        saliency = classic.check_saliency(saliency, ref.shape)
    ctx: dict = {"saliency": saliency, "lpips_comp_weights": lpips_comp_weights}
    return {n: float(METRICS[n].fn(ref, dist, ctx)) for n in names}
