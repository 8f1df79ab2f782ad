"""JPEG XL (libjxl VarDCT) through imagecodecs, controlled by the Butteraugli distance.

The distance is continuous (larger = fewer bits), so rate matching can land within a fraction of
a percent of the target. Effort 7 is libjxl's default.
"""
from __future__ import annotations

import numpy as np

from .base import CodecUnavailable, QualityParameter, StandardCodec

EFFORT = 7


class JpegXl(StandardCodec):
    name = "jxl"
    extension = "jxl"
    parameter = QualityParameter("distance", 0.05, 25.0, integer=False,
                                 more_bits_when_higher=False, log_scale=True)
    settings = f"libjxl via imagecodecs, VarDCT, effort {EFFORT}, distance-controlled"

    def check_available(self) -> None:
        try:
            import imagecodecs
        except ImportError:
            raise CodecUnavailable("JPEG XL needs the 'imagecodecs' package (pip install imagecodecs)") from None
        if not imagecodecs.JPEGXL.available:
            raise CodecUnavailable("this imagecodecs build has no JPEG XL")

    def library_version(self) -> str:
        import imagecodecs

        return f"imagecodecs {imagecodecs.__version__}, {imagecodecs.jpegxl_version()}"

    def encode(self, rgb: np.ndarray, value: float) -> bytes:
        import imagecodecs

        return bytes(imagecodecs.jpegxl_encode(np.ascontiguousarray(rgb), distance=float(value),
                                               effort=EFFORT))

    def decode(self, data: bytes) -> np.ndarray:
        import imagecodecs

        out = imagecodecs.jpegxl_decode(data)
        return np.ascontiguousarray(out[..., :3].astype(np.uint8))
