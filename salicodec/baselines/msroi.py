"""The saliency-adaptive JPEG (salicodec.baselines.msroi_jpeg) as a benchmark entry, `msroi-jpeg`.

Its knob is the base quality q_b (continuous; see msroi_jpeg.ijg_tables) with the default saliency
strength; the saliency is U^2-Net-p's map ('auto'), computed once per image and reused by every
encode of the rate search.
"""
from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path

import numpy as np
from PIL import __version__ as pillow_version

from .base import CodecUnavailable, QualityParameter, StandardCodec, pil_decode


class MsroiJpeg(StandardCodec):
    name = "msroi-jpeg"
    extension = "jpg"
    parameter = QualityParameter("base quality", 1.0, 100.0, integer=False, more_bits_when_higher=True)

    def __init__(self, config=None):
        from .msroi_jpeg import MsroiJpegConfig

        self.config = config or MsroiJpegConfig()
        c = self.config
        self.settings = (f"saliency JPEG (DCT domain), U^2-Net-p saliency, {c.levels} levels, strength "
                         f"{c.strength:g}, {c.method}, YCbCr 4:2:0, optimised Huffman, baseline")
        self._saliency: dict[str, np.ndarray] = {}

    def check_available(self) -> None:
        try:
            import jpeglib  # noqa: F401
        except ImportError:
            raise CodecUnavailable("msroi-jpeg needs jpeglib (pip install jpeglib==1.0.2)") from None

    def library_version(self) -> str:
        import jpeglib

        return f"jpeglib {jpeglib.__version__}, Pillow {pillow_version}"

    def saliency(self, rgb: np.ndarray) -> np.ndarray:
        key = hashlib.sha256(rgb.tobytes() + str(rgb.shape).encode()).hexdigest()
        if key not in self._saliency:
            from ..saliency import saliency_map

            self._saliency = {key: saliency_map(rgb)}  # one image at a time: keep memory flat
        return self._saliency[key]

    def encode(self, rgb: np.ndarray, value: float) -> bytes:
        from .msroi_jpeg import MsroiEncoder

        with tempfile.TemporaryDirectory(prefix="salicodec-jpeg-") as tmp:
            return MsroiEncoder(rgb, self.saliency(rgb), self.config, Path(tmp)).encode(float(value)).data

    def decode(self, data: bytes) -> np.ndarray:
        return pil_decode(data)
