"""Baseline JPEG through Pillow (libjpeg-turbo): 4:2:0 (what most software writes) and 4:4:4.

Settings: IJG quality scaling of the standard Annex K tables, optimised Huffman tables, baseline
(sequential) mode. The quality knob is an integer, so rate matching lands on the nearest step.
"""
from __future__ import annotations

import numpy as np
from PIL import __version__ as pillow_version
from PIL import features

from .base import QualityParameter, StandardCodec, pil_decode, pil_encode


class PillowJpeg(StandardCodec):
    extension = "jpg"
    parameter = QualityParameter("quality", 1, 100, integer=True, more_bits_when_higher=True)

    def __init__(self, subsampling: str):
        if subsampling not in ("4:2:0", "4:4:4"):
            raise ValueError(subsampling)
        self.subsampling = subsampling
        self.name = "jpeg-" + subsampling.replace(":", "")
        self.settings = f"Pillow/libjpeg-turbo, YCbCr {subsampling}, optimize=True (Huffman), baseline"

    def library_version(self) -> str:
        return f"Pillow {pillow_version}, libjpeg-turbo {features.version('libjpeg_turbo')}"

    def encode(self, rgb: np.ndarray, value: float) -> bytes:
        return pil_encode(rgb, "JPEG", quality=int(value), subsampling=self.subsampling, optimize=True)

    def decode(self, data: bytes) -> np.ndarray:
        return pil_decode(data)
