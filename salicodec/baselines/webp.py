"""Lossy WebP (VP8 intra, YCbCr 4:2:0 as the format requires) through Pillow's libwebp, method 6.

libwebp takes a fractional quality, so rate matching searches it as a continuous knob; its
internal quantiser is still stepwise, which limits how close a single image can get.
"""
from __future__ import annotations

import numpy as np
from PIL import __version__ as pillow_version
from PIL import features

from .base import CodecUnavailable, QualityParameter, StandardCodec, pil_decode, pil_encode


class WebP(StandardCodec):
    name = "webp"
    extension = "webp"
    parameter = QualityParameter("quality", 0.0, 100.0, integer=False, more_bits_when_higher=True)
    settings = "libwebp via Pillow, lossy, method 6 (slowest, best), YCbCr 4:2:0"

    def check_available(self) -> None:
        if not features.check("webp"):
            raise CodecUnavailable("Pillow was built without WebP")

    def library_version(self) -> str:
        return f"Pillow {pillow_version}, libwebp {features.version('webp')}"

    def encode(self, rgb: np.ndarray, value: float) -> bytes:
        return pil_encode(rgb, "WEBP", quality=float(value), method=6, lossless=False)

    def decode(self, data: bytes) -> np.ndarray:
        return pil_decode(data)
