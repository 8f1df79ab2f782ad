"""Shared fixtures: tiny real models and images (no mocks)."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from salicodec.imageio import shared_dir
from salicodec.models.codec import CodecConfig, SaliCodec

TINY = CodecConfig(channels=8, num_centres=5, width=16, e1_blocks=1, e1_nonlocal=1, width2=16,
                   e2_blocks=1, e2_nonlocal=1, context_width=8)


def make_tiny_model(seed: int = 0, hierarchical: bool = True) -> SaliCodec:
    torch.manual_seed(seed)
    cfg = CodecConfig(**{**TINY.to_dict(), "hierarchical": hierarchical})
    m = SaliCodec(cfg)
    # Random init leaves the importance maps near 0.5; spread them so masks are non-trivial.
    with torch.no_grad():
        m.e1.net[-1].bias[-1] = 0.3
    return m.eval()


@pytest.fixture(scope="session")
def tiny_model() -> SaliCodec:
    return make_tiny_model()


@pytest.fixture(scope="session")
def kodak_dir() -> Path:
    d = shared_dir() / "data" / "kodak"
    if not d.is_dir():
        pytest.skip(f"Kodak not found at {d} (set SALICODEC_SHARED)")
    return d


def photo(h: int, w: int, seed: int = 0) -> np.ndarray:
    """A smooth synthetic photo-like image: gradients plus a few blobs and mild noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    img = np.stack([
        128 + 80 * np.sin(xx / max(w, 1) * 3 + c) * np.cos(yy / max(h, 1) * 2 - c) for c in range(3)
    ], axis=2)
    img += rng.normal(0, 6, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)
