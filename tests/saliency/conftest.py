"""Fixtures for the saliency tests: the real U^2-Net-p weights (fetched by `make test`) and images."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from salicodec import weights
from salicodec.imageio import load_rgb

ASTRONAUT = Path(__file__).resolve().parents[2] / "salicodec" / "data" / "astronaut.png"


@pytest.fixture(scope="session")
def u2netp_weights() -> Path:
    if not weights.is_cached("u2netp"):
        pytest.skip("U^2-Net-p weights not cached; run: salicodec weights fetch u2netp (make test does)")
    return weights.path("u2netp")


@pytest.fixture(scope="session")
def astronaut() -> np.ndarray:
    return load_rgb(ASTRONAUT)


@pytest.fixture(scope="session")
def astronaut_path() -> Path:
    return ASTRONAUT
