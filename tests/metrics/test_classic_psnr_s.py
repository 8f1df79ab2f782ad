"""PSNR-S (PSNR over the salient region) against a direct computation on the selected pixels."""
from __future__ import annotations

import math

import numpy as np
import pytest

from salicodec.errors import SalicodecError
from salicodec.metrics.classic import psnr_rgb, psnr_salient


def test_binary_mask_is_psnr_of_the_region(crop_pair):
    ref, dist = crop_pair
    mask = np.zeros(ref.shape[:2], dtype=bool)
    mask[10:50, 20:90] = True
    d = ref[mask].astype(float) - dist[mask].astype(float)
    want = 10 * math.log10(255**2 / np.mean(d * d))
    assert psnr_salient(ref, dist, mask) == pytest.approx(want, rel=1e-12)
    assert psnr_salient(ref, dist, mask.astype(np.uint8) * 255) == pytest.approx(want, rel=1e-12)
    assert psnr_salient(ref, dist, np.ones(ref.shape[:2])) == pytest.approx(psnr_rgb(ref, dist), rel=1e-12)
    # Errors outside the mask do not count.
    worse = dist.copy()
    worse[~mask] = 0
    assert psnr_salient(ref, worse, mask) == pytest.approx(want, rel=1e-12)


def test_bad_masks(crop_pair):
    ref, dist = crop_pair
    with pytest.raises(SalicodecError, match="empty"):
        psnr_salient(ref, dist, np.zeros(ref.shape[:2]))
    with pytest.raises(SalicodecError, match="must be"):
        psnr_salient(ref, dist, np.ones((5, 5)))
    with pytest.raises(SalicodecError, match=r"\[0, 1\]"):
        psnr_salient(ref, dist, np.full(ref.shape[:2], 2.0))
