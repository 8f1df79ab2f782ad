"""JPEG 2000 through Pillow's OpenJPEG: 9/7 irreversible wavelet, irreversible colour transform.

Rate-controlled: OpenJPEG is asked for a compression ratio (24 / bpp for 8-bit RGB), one quality
layer, a raw codestream (.j2k, no JP2 box overhead). OpenJPEG's rate control lands close to the
request but not on it, so rate matching still searches the requested bpp.
"""
from __future__ import annotations

import numpy as np
from PIL import __version__ as pillow_version
from PIL import features

from .base import CodecUnavailable, QualityParameter, StandardCodec, pil_decode, pil_encode


class OpenJpeg2000(StandardCodec):
    name = "jpeg2000"
    extension = "j2k"
    parameter = QualityParameter("requested_bpp", 0.02, 12.0, integer=False,
                                 more_bits_when_higher=True, log_scale=True)
    settings = ("OpenJPEG via Pillow: 9/7 irreversible DWT, MCT (ICT) on, rate-controlled "
                "(quality_mode=rates, 1 layer), 5 decomposition levels, 64x64 code-blocks, .j2k codestream")

    def check_available(self) -> None:
        if not features.check("jpg_2000"):
            raise CodecUnavailable("Pillow was built without OpenJPEG (JPEG 2000)")

    def library_version(self) -> str:
        return f"Pillow {pillow_version}, OpenJPEG {features.version('jpg_2000')}"

    def encode(self, rgb: np.ndarray, value: float) -> bytes:
        ratio = 24.0 / float(value)
        return pil_encode(rgb, "JPEG2000", quality_mode="rates", quality_layers=[ratio],
                          irreversible=True, mct=1, no_jp2=True)

    def decode(self, data: bytes) -> np.ndarray:
        return pil_decode(data)
