"""PSNR-HVS / PSNR-HVS-M: an analytic case, the reference tables, and the psnr-hvsm package."""
from __future__ import annotations

import math

import numpy as np
import pytest

from salicodec.errors import SalicodecError
from salicodec.metrics import hvs


def test_dc_shift_has_closed_form():
    # A uniform luma shift delta changes only the DC of each orthonormal 8x8 DCT, by 8 * delta; the
    # DC is CSF-weighted and never masked, so both MSEs are (8 delta CSF[0,0])^2 / 64.
    rng = np.random.default_rng(0)
    a = rng.integers(20, 200, (32, 40)).astype(np.float64)
    delta = 3.0
    m_hvs, m_hvsm = hvs._mse_hvs_hvsm(a, a + delta)
    want = (delta * hvs.CSF[0, 0]) ** 2
    assert m_hvs == pytest.approx(want, rel=1e-12)
    assert m_hvsm == pytest.approx(want, rel=1e-12)


def test_mask_weights_are_the_reference_table():
    # Spot values of MaskCof in Ponomarenko's psnrhvsm.m.
    assert hvs.MASK_WEIGHTS[0, :4].tolist() == [0.390625, 0.826446, 1.0, 0.390625]
    assert hvs.MASK_WEIGHTS[7, 7] == 0.010203
    assert hvs.MASK_WEIGHTS[3, 1] == 0.346021


def test_identical_is_inf_and_ordering(crop_pair, jpeg):
    ref, q20 = crop_pair
    assert hvs.psnr_hvs_hvsm(ref, ref.copy()) == (math.inf, math.inf)
    q80 = jpeg(ref, 80)
    assert hvs.psnr_hvs(ref, q80) > hvs.psnr_hvs(ref, q20)
    assert hvs.psnr_hvsm(ref, q80) > hvs.psnr_hvsm(ref, q20)
    assert hvs.psnr_hvsm(ref, q20) > hvs.psnr_hvs(ref, q20)  # masking only removes error
    with pytest.raises(SalicodecError):
        hvs.psnr_hvs(ref[:4, :4].copy(), ref[:4, :4].copy())


def test_matches_psnr_hvsm_package(crop_pair):
    # psnr-hvsm's C++ backend (FFTW DCT, xtensor) is an implementation independent of ours, checked
    # by its authors against the published TID2013 values.
    psnr_hvsm_pkg = pytest.importorskip("psnr_hvsm", reason="psnr-hvsm not installed (test extra)")
    ref, dist = crop_pair
    ya = psnr_hvsm_pkg.bt601ycbcr(ref)[0]
    yb = psnr_hvsm_pkg.bt601ycbcr(dist)[0]
    backend = psnr_hvsm_pkg.BACKENDS.get("cpp", psnr_hvsm_pkg.BACKENDS["numpy"])["psnr_hvs_hvsm"]
    want_hvs, want_hvsm = backend(ya, yb)
    got_hvs, got_hvsm = hvs.psnr_hvs_hvsm(ref, dist)
    assert got_hvs == pytest.approx(float(want_hvs), abs=1e-6)
    assert got_hvsm == pytest.approx(float(want_hvsm), abs=1e-6)
