"""mozjpeg 4.0.3 through jpeglib (which bundles several libjpeg builds, mozjpeg among them).

Settings are mozjpeg's own defaults as jpeglib applies them: its JCP_MAX_COMPRESSION profile
(trellis quantisation, progressive scans, the ImageMagick-derived quantisation tables), YCbCr 4:2:0.
The file is decoded with Pillow's libjpeg-turbo, as any viewer would.
"""
from __future__ import annotations

import os
import tempfile

import numpy as np

from .base import CodecUnavailable, QualityParameter, StandardCodec, pil_decode

MOZJPEG_VERSION = "mozjpeg403"


class MozJpeg(StandardCodec):
    name = "mozjpeg"
    extension = "jpg"
    parameter = QualityParameter("quality", 1, 100, integer=True, more_bits_when_higher=True)
    settings = "jpeglib 'mozjpeg403' defaults: trellis, progressive, ImageMagick tables, YCbCr 4:2:0"

    def check_available(self) -> None:
        try:
            import jpeglib
        except ImportError:
            raise CodecUnavailable("mozjpeg needs the 'jpeglib' package (pip install jpeglib)") from None
        if MOZJPEG_VERSION not in jpeglib.version.versions():
            raise CodecUnavailable(f"this jpeglib build has no {MOZJPEG_VERSION}")

    def library_version(self) -> str:
        import jpeglib

        return f"jpeglib {jpeglib.__version__}, mozjpeg 4.0.3"

    def encode(self, rgb: np.ndarray, value: float) -> bytes:
        import jpeglib

        # jpeglib writes only to a path; a private temporary file keeps workers apart.
        fd, path = tempfile.mkstemp(suffix=".jpg")
        os.close(fd)
        try:
            with jpeglib.version(MOZJPEG_VERSION):
                jpeglib.from_spatial(np.ascontiguousarray(rgb)).write_spatial(path, qt=int(value))
            with open(path, "rb") as f:
                return f.read()
        finally:
            os.unlink(path)

    def decode(self, data: bytes) -> np.ndarray:
        return pil_decode(data)
