"""HEIC (HEVC intra through libheif / x265), YCbCr 4:4:4, tune=psnr: our stand-in for BPG.

BPG (Bellard's HEVC-intra format, the anchor of the paper's Fig. 7) cannot be installed here; HEIC
is the same HEVC intra coding in another container. The header overhead differs by a few hundred
bytes, and libheif maps its quality 0..100 onto x265's integer QP, so one quality step moves the
rate by roughly 5-15 %: rate matching lands on the nearest step, per image.
"""
from __future__ import annotations

import io

import numpy as np

from .base import CodecUnavailable, QualityParameter, StandardCodec

X265_PARAMS = {"preset": "slower", "tune": "psnr"}


class HeicX265(StandardCodec):
    name = "heic"
    extension = "heic"
    parameter = QualityParameter("quality", 0, 100, integer=True, more_bits_when_higher=True)
    settings = "pillow-heif/libheif, x265 preset=slower tune=psnr, YCbCr 4:4:4 (chroma=444), 8 bit"

    def check_available(self) -> None:
        try:
            import pillow_heif
        except ImportError:
            raise CodecUnavailable("HEIC needs the 'pillow-heif' package (pip install pillow-heif)") from None
        if "x265" not in pillow_heif.libheif_info().get("encoders", {}):
            raise CodecUnavailable("this pillow-heif build has no x265 HEVC encoder")

    def library_version(self) -> str:
        import pillow_heif

        info = pillow_heif.libheif_info()
        return f"pillow-heif {pillow_heif.__version__}, libheif {info['libheif']}, {info['HEIF']}"

    def encode(self, rgb: np.ndarray, value: float) -> bytes:
        import pillow_heif

        heif = pillow_heif.from_bytes(mode="RGB", size=(rgb.shape[1], rgb.shape[0]),
                                      data=np.ascontiguousarray(rgb).tobytes())
        buf = io.BytesIO()
        heif.save(buf, quality=int(value), chroma=444, enc_params=dict(X265_PARAMS))
        return buf.getvalue()

    def decode(self, data: bytes) -> np.ndarray:
        import pillow_heif

        img = pillow_heif.open_heif(io.BytesIO(data), convert_hdr_to_8bit=True)
        return np.ascontiguousarray(np.asarray(img.to_pillow().convert("RGB")))
