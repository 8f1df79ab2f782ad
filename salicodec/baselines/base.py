"""What every standard-codec adapter provides: encode to the real file bytes, decode them back.

An adapter knows its one rate knob (`QualityParameter`): its range, whether it is an integer, and
whether raising it spends more bits. Rate matching (salicodec.evaluation.ratematch) searches that
knob per image; the adapter itself never guesses a rate.
"""
from __future__ import annotations

import io
from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np
from PIL import Image

from ..errors import SalicodecError


class CodecUnavailable(SalicodecError):
    """The optional library behind a codec is missing or lacks the needed encoder."""


@dataclass(frozen=True)
class QualityParameter:
    name: str  # as the library calls it: "quality", "distance", "bpp"...
    low: float
    high: float
    integer: bool
    more_bits_when_higher: bool  # False for JPEG XL's distance: a larger distance means fewer bits
    log_scale: bool = False  # bisect in log space (a knob that spans decades, e.g. distance)


class StandardCodec(ABC):
    """One codec with fixed settings; only the quality parameter varies."""

    name: str
    extension: str  # of the real file the adapter writes, e.g. "jpg"
    parameter: QualityParameter
    settings: str  # human-readable fixed settings for the report

    def check_available(self) -> None:
        """Raise CodecUnavailable with a one-line reason when the library cannot run this codec."""

    @abstractmethod
    def library_version(self) -> str: ...

    @abstractmethod
    def encode(self, rgb: np.ndarray, value: float) -> bytes: ...

    @abstractmethod
    def decode(self, data: bytes) -> np.ndarray: ...

    def describe(self) -> dict:
        return {
            "name": self.name,
            "extension": self.extension,
            "parameter": self.parameter.name,
            "settings": self.settings,
            "version": self.library_version(),
        }


def pil_encode(rgb: np.ndarray, format: str, **options) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb, "RGB").save(buf, format=format, **options)
    return buf.getvalue()


def pil_decode(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as img:
        img.load()
        return np.ascontiguousarray(np.asarray(img.convert("RGB")))
