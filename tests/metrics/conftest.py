from __future__ import annotations

import io
from importlib.resources import files

import numpy as np
import pytest
from PIL import Image

from salicodec.imageio import load_rgb


@pytest.fixture(scope="session")
def astronaut() -> np.ndarray:
    return load_rgb(files("salicodec") / "data" / "astronaut.png")


def _jpeg(a: np.ndarray, quality: int) -> np.ndarray:
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, "JPEG", quality=quality)
    return np.array(Image.open(buf).convert("RGB"))


@pytest.fixture(scope="session")
def jpeg():
    """jpeg(array, quality) -> the decoded JPEG of an RGB uint8 array."""
    return _jpeg


@pytest.fixture(scope="session")
def crop_pair(astronaut) -> tuple[np.ndarray, np.ndarray]:
    """A 96x128 crop and its JPEG q20 version."""
    ref = np.ascontiguousarray(astronaut[40:136, 180:308])
    return ref, _jpeg(ref, 20)
