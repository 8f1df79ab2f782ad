"""Round trips, exactness, thread independence, real bits vs predicted cross-entropy."""
import numpy as np
import pytest
import torch
from PIL import Image

from salicodec import api, container
from tests.conftest import make_tiny_model, photo


@pytest.mark.parametrize("h, w", [(1, 1), (17, 31), (321, 481), (1500, 2000)])
def test_roundtrip_equals_forward_reconstruction(tiny_model, h, w):
    img = photo(h, w, seed=h)
    data = api.compress(img, tiny_model, saliency="none")
    out = np.asarray(api.decompress(data, tiny_model))
    assert out.shape == (h, w, 3)
    assert np.array_equal(out, api.reconstruct(img, tiny_model, saliency="none"))


def test_single_level_model_roundtrip():
    m = make_tiny_model(3, hierarchical=False)
    img = photo(70, 90)
    assert np.array_equal(np.asarray(api.decompress(api.compress(img, m, saliency="none"), m)),
                          api.reconstruct(img, m, saliency="none"))


def test_saliency_gives_salient_cells_all_channels(tiny_model):
    img = photo(64, 64)
    sal = np.zeros((64, 64), np.float32)
    sal[:32, :32] = 1.0
    _, code_none = api.compress(img, tiny_model, saliency="none", return_stats=True)
    _, code_sal = api.compress(img, tiny_model, saliency=sal, return_stats=True)
    x = api.pad_to_multiple(img)
    s = api.saliency_tensor(sal, img, (8, 8))
    with torch.no_grad():
        k_none = tiny_model._analysis(x, None)["k1"][0]
        k_sal = tiny_model._analysis(x, s)["k1"][0]
    assert (k_sal >= k_none).all()
    assert (k_sal[s[0, 0] > 0] == tiny_model.cfg.channels).all()
    assert code_sal.predicted_bits["y"] > code_none.predicted_bits["y"]


def test_decoding_independent_of_thread_count(tiny_model):
    img = photo(96, 128, seed=5)
    data = api.compress(img, tiny_model, saliency="none")
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        a = np.asarray(api.decompress(data, tiny_model))
        torch.set_num_threads(2)
        b = np.asarray(api.decompress(data, tiny_model))
    finally:
        torch.set_num_threads(before)
    assert np.array_equal(a, b)


def test_payload_matches_predicted_cross_entropy(tiny_model, kodak_dir):
    rgb = np.asarray(Image.open(kodak_dir / "kodim05.png").convert("RGB"))
    data, code = api.compress(rgb, tiny_model, saliency="none", return_stats=True)
    f = container.unpack(data)
    payload_bits = 8 * sum(len(s) for s in f.sections)
    # The training path's cross-entropy (Eq. 12) plus the coded channel counts.
    x = api.pad_to_multiple(rgb)
    with torch.no_grad():
        out = tiny_model(x)
    predicted = float(out["bits_y"] + out["bits_z"]) + code.predicted_bits["k1"] + code.predicted_bits["k2"]
    assert abs(payload_bits - predicted) <= 0.01 * predicted


def test_greyscale_roundtrip_gives_greyscale(tiny_model):
    g = Image.fromarray(photo(40, 50)[:, :, 0], "L")
    out = api.decompress(api.compress(g, tiny_model, saliency="none"), tiny_model)
    assert out.mode == "L" and out.size == (50, 40)


def test_wrong_weights_refused(tiny_model):
    data = api.compress(photo(32, 32), tiny_model, saliency="none")
    other = make_tiny_model(seed=9)
    with pytest.raises(container.FormatError, match="different weights"):
        api.decompress(data, other)


def test_bit_maps_sum_to_the_rate(tiny_model):
    """forward(bit_maps=True) says where the bits of Eq. 12 go; the maps add up to the totals."""
    x = torch.rand(1, 3, 64, 96)
    with torch.no_grad():
        out = tiny_model(x, bit_maps=True)
    assert out["bit_map_y"].shape == (1, 8, 12) and out["bit_map_z"].shape == (1, 2, 3)
    assert torch.allclose(out["bit_map_y"].sum(), out["bits_y"].sum(), rtol=1e-5)
    assert torch.allclose(out["bit_map_z"].sum(), out["bits_z"].sum(), rtol=1e-5)
    assert (out["bit_map_y"] >= 0).all()
