"""U^2-Net-p on the real weights: pre-processing, output shape and range, and what it finds."""
from __future__ import annotations

import numpy as np
import pytest

from salicodec.errors import SalicodecError
from salicodec.saliency import grid_mask, saliency_map, salient_fraction
from salicodec.saliency import u2netp
from salicodec.weights import WeightsMissing


def test_preprocess_is_imagenet_normalised_320():
    x = u2netp.preprocess(np.full((10, 30, 3), 200, dtype=np.uint8))
    assert x.shape == (1, 3, 320, 320) and x.dtype == np.float32
    # ToTensorLab(flag=0): divided by the image maximum, so a flat 200 image becomes 1.0.
    expected = (1.0 - u2netp.IMAGENET_MEAN) / u2netp.IMAGENET_STD
    np.testing.assert_allclose(x[0, :, 5, 5], expected, rtol=1e-6)


def test_astronaut_is_salient_and_background_is_not(u2netp_weights, astronaut):
    prob = saliency_map(astronaut)
    assert prob.shape == astronaut.shape[:2] and prob.dtype == np.float32
    assert prob.min() >= 0.0 and prob.max() <= 1.0
    assert prob[40:140, 180:280].mean() > 0.9  # her face
    assert prob[0:100, 0:60].mean() < 0.1  # the flag at the top left
    assert prob[0:120, 380:512].mean() < 0.1  # the backdrop beside the shuttle
    assert 0.3 < salient_fraction(grid_mask(prob)) < 0.8


def test_featureless_image_has_no_salient_object(u2netp_weights):
    prob = saliency_map(np.full((37, 53, 3), 128, dtype=np.uint8))
    assert prob.shape == (37, 53)
    assert prob.max() < 0.05
    assert not grid_mask(prob).any()


def test_session_is_cached(u2netp_weights):
    assert u2netp.session() is u2netp.session()


def test_rejects_non_rgb_arrays(u2netp_weights):
    with pytest.raises(ValueError):
        saliency_map(np.zeros((8, 8), dtype=np.uint8))
    with pytest.raises(ValueError):
        saliency_map(np.zeros((8, 8, 3), dtype=np.float32))


def test_missing_weights_say_what_to_run(tmp_path, monkeypatch):
    monkeypatch.setenv("SALICODEC_HOME", str(tmp_path))
    with pytest.raises(WeightsMissing, match="salicodec weights fetch u2netp"):
        saliency_map(np.zeros((8, 8, 3), dtype=np.uint8))


def test_corrupt_weights_file_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("SALICODEC_HOME", str(tmp_path))
    (tmp_path / "u2netp.onnx").write_bytes(b"not an onnx model")
    with pytest.raises(SalicodecError, match="weights fetch --force u2netp"):
        saliency_map(np.zeros((8, 8, 3), dtype=np.uint8))
