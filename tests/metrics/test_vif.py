"""VIF-pixel against sewar's implementation of the reference vifp_mscale.m."""
from __future__ import annotations

import numpy as np
import pytest

from salicodec.errors import SalicodecError
from salicodec.metrics.classic import luma
from salicodec.metrics.vif import vifp


def test_matches_sewar(crop_pair):
    sewar = pytest.importorskip("sewar.full_ref", reason="sewar not installed (test extra)")
    ref, dist = crop_pair
    want = sewar.vifp(luma(ref)[..., None], luma(dist)[..., None])
    assert vifp(ref, dist) == pytest.approx(want, rel=1e-9)


def test_properties(crop_pair):
    ref, dist = crop_pair
    assert vifp(ref, ref.copy()) == pytest.approx(1.0, abs=1e-9)
    assert 0 < vifp(ref, dist) < 1
    # Contrast stretching around the mean adds "information": VIF above 1 (Sheikh & Bovik).
    stretched = np.clip((ref.astype(float) - 128) * 1.2 + 128, 0, 255).round().astype(np.uint8)
    assert vifp(ref, stretched) > 1.0
    with pytest.raises(SalicodecError, match="41x41"):
        vifp(ref[:30, :30].copy(), ref[:30, :30].copy())
