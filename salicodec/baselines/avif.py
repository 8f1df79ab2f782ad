"""AVIF (AV1 intra through libavif / libaom), YCbCr 4:4:4, through pillow-avif-plugin.

When pillow-avif-plugin is absent, Pillow's own AVIF support (Pillow >= 11.2) is used instead and
the report says so. Quality is libavif's 0..100 scale, mapped onto AV1's 64 quantiser steps.
"""
from __future__ import annotations

import numpy as np
from PIL import features

from .base import CodecUnavailable, QualityParameter, StandardCodec, pil_decode, pil_encode

SPEED = 6


def _plugin_version() -> str | None:
    try:
        import pillow_avif  # noqa: F401  (registers the plugin with Pillow)

        return pillow_avif.__version__
    except ImportError:
        return None


class Avif(StandardCodec):
    name = "avif"
    extension = "avif"
    parameter = QualityParameter("quality", 0, 100, integer=True, more_bits_when_higher=True)
    settings = f"libavif + libaom, YCbCr 4:4:4, speed {SPEED}, 8 bit, full range"

    def check_available(self) -> None:
        if _plugin_version() is None and not features.check("avif"):
            raise CodecUnavailable("AVIF needs 'pillow-avif-plugin' (pip install pillow-avif-plugin)")

    def library_version(self) -> str:
        plugin = _plugin_version()
        if plugin is not None:
            from pillow_avif import _avif

            return f"pillow-avif-plugin {plugin}, libavif {_avif.libavif_version}, aom {_aom_version(_avif.codec_versions())}"
        return f"Pillow native AVIF, libavif {features.version('avif')}"

    def encode(self, rgb: np.ndarray, value: float) -> bytes:
        _plugin_version()
        return pil_encode(rgb, "AVIF", quality=int(value), subsampling="4:4:4", speed=SPEED,
                          codec="aom", range="full")

    def decode(self, data: bytes) -> np.ndarray:
        _plugin_version()
        return pil_decode(data)


def _aom_version(codec_versions: str) -> str:
    """'dav1d [dec]:1.5.3, aom [enc]:3.14.1, ...' -> '3.14.1'."""
    for part in codec_versions.split(","):
        name, _, version = part.strip().partition(":")
        if name.startswith("aom"):
            return version.strip()
    return "unknown"
