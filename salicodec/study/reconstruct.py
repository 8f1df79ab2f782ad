"""The one place where `study create` compresses images: (image, codec, target bpp) -> reconstruction.

The study only needs, per image and target rate, one decoded reconstruction per codec together with
the rate it really reached. `Reconstructor` is that contract. `default_reconstructor()` prefers the
evaluation suite's rate matching (`salicodec.evaluation`, codec adapters in `salicodec.baselines`),
so the study compares exactly the images that `salicodec eval` measures. When that suite is not
installed in this checkout, a small Pillow fallback (JPEG and WebP, per-image quality bisection)
keeps the study usable; it is selected only through this module, so replacing it is one function.
"""
from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Callable

import numpy as np
from PIL import Image

from ..errors import SalicodecError


@dataclass(frozen=True)
class Reconstruction:
    rgb: np.ndarray  # (H, W, 3) uint8, the decoded image shown to participants
    bpp: float  # bits per pixel of the coded file that produced it
    setting: str  # codec parameter that reached the rate, for the record (e.g. "quality=37")


# (original RGB uint8 (H, W, 3), codec name, target bpp) -> Reconstruction
Reconstructor = Callable[[np.ndarray, str, float], Reconstruction]


# --------------------------------------------------------------------------------------------
# Pillow fallback: quality bisection per image, the usual way to rate-match a quality-driven codec.
PILLOW_CODECS = {"jpeg": "JPEG", "webp": "WEBP"}


def _pillow_encode(rgb: np.ndarray, fmt: str, quality: int) -> bytes:
    buf = io.BytesIO()
    img = Image.fromarray(rgb, "RGB")
    if fmt == "JPEG":
        # 4:2:0 is what a JPEG encoder does by default; kept explicit so results are reproducible.
        img.save(buf, format="JPEG", quality=quality, subsampling=2, optimize=True)
    else:
        img.save(buf, format="WEBP", quality=quality, method=6)
    return buf.getvalue()


def pillow_reconstruct(rgb: np.ndarray, codec: str, target_bpp: float) -> Reconstruction:
    """Highest quality whose file stays at or below the target bpp (quality 1 if none does)."""
    fmt = PILLOW_CODECS.get(codec)
    if fmt is None:
        raise SalicodecError(f"unknown codec {codec!r} (available here: {', '.join(available_codecs())})")
    pixels = rgb.shape[0] * rgb.shape[1]

    def bpp_of(q: int) -> tuple[float, bytes]:
        data = _pillow_encode(rgb, fmt, q)
        return 8.0 * len(data) / pixels, data

    lo, hi = 1, 100  # invariant: bpp(lo) <= target unless lo == 1; bpp(hi + 1) > target
    best_q, (best_bpp, best_data) = 1, bpp_of(1)
    while lo <= hi:
        mid = (lo + hi) // 2
        b, data = bpp_of(mid)
        if b <= target_bpp:
            best_q, best_bpp, best_data = mid, b, data
            lo = mid + 1
        else:
            hi = mid - 1
    with Image.open(io.BytesIO(best_data)) as im:
        decoded = np.asarray(im.convert("RGB"))
    return Reconstruction(np.ascontiguousarray(decoded), best_bpp, f"quality={best_q}")


# --------------------------------------------------------------------------------------------
def available_codecs() -> list[str]:
    return sorted(PILLOW_CODECS)


def default_reconstructor() -> Reconstructor:
    return pillow_reconstruct
