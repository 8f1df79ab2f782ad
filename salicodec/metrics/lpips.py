"""LPIPS (Zhang et al. 2018, v0.1) and the deep perceptual loss DPL of Patel et al. (Eq. 1, Eq. 13).

Both are the same computation on a frozen backbone (backbones.py):

    d(x, x̂) = Σ_l 1/(H_l W_l) Σ_{h,w} Σ_c w_{l,c} (ẑ^l_{x,hwc} − ẑ^l_{x̂,hwc})²

where ẑ are the tap activations unit-normalised in the channel dimension.

Eq. 1 of the paper writes ‖w_l ⊙ (z_x̂ − z_x)‖², i.e. Σ_c w_c² Δ_c², while LPIPS v0.1 applies its
1x1 "lin" layer to the squared difference, Σ_c w_c Δ_c², with w_c ≥ 0. The two are the same family
(w_LPIPS = w_Eq1²); the difference is only how w is parameterised. We implement the LPIPS form for
both LPIPS and DPL, so that (a) LPIPS equals the official numbers with the official weights, and
(b) DPL with any weights file equals the LPIPS value of that file: "LPIPS-Comp is used as the DPL"
(Sec. 2.2) holds literally. A weights file of Eq. 1's w is converted by squaring it.

Inputs of the torch API are float tensors (N, 3, H, W) in [0, 1]; LPIPS's own convention of
[−1, 1] followed by its fixed ScalingLayer is applied inside.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence, Union

import numpy as np
import torch
from torch import nn

from .. import weights as weights_mod
from ..errors import SalicodecError
from .backbones import TAP_CHANNELS, Backbone
from .classic import check_pair

__all__ = [
    "DeepPerceptualLoss",
    "saliency_weighted_dpl",
    "LPIPS",
    "lpips",
    "load_lin_weights",
    "save_lin_weights",
    "normalize_channels",
    "tap_squared_differences",
]

LinWeightsSpec = Union[str, os.PathLike, Sequence[torch.Tensor], None]

# LPIPS's ScalingLayer: ImageNet statistics expressed for inputs in [-1, 1].
_SHIFT = (-0.030, -0.088, -0.188)
_SCALE = (0.458, 0.448, 0.450)
_EPS = 1e-10  # LPIPS's normalize_tensor epsilon


def normalize_channels(f: torch.Tensor) -> torch.Tensor:
    """Unit-normalise in the channel dimension, as LPIPS's normalize_tensor: f / (‖f‖ + 1e-10).

    Computed in float32 even under autocast (a half-precision sum of 512 squared activations can
    overflow). The 1e-20 under the square root changes no value visibly but keeps the gradient
    finite where a whole feature vector is zero (sqrt'(0) = inf would give NaN).
    """
    f = f.float()
    norm = torch.sqrt(torch.sum(f * f, dim=1, keepdim=True) + _EPS * _EPS)
    return f / (norm + _EPS)


def load_lin_weights(spec: LinWeightsSpec, net: str = "vgg") -> list[torch.Tensor]:
    """The five per-channel weight vectors (float32, shapes (C_l,)).

    spec: "lpips-vgg" / "lpips-alex" (official LPIPS v0.1 weights from the cache), a path to a
    weights file (LPIPS layout `lin{l}.model.1.weight` of shape (1, C, 1, 1), as written by
    `save_lin_weights` and by the official code), a list of five tensors, or None (all ones: the
    unlearned "baseline" distance of LPIPS).
    """
    channels = TAP_CHANNELS[net]
    if spec is None:
        return [torch.ones(c) for c in channels]
    if isinstance(spec, (list, tuple)):
        ws = [torch.as_tensor(w, dtype=torch.float32).detach().reshape(-1).cpu() for w in spec]
        source = "the given list"
    else:
        if isinstance(spec, str) and spec in ("lpips-vgg", "lpips-alex"):
            expected = "vgg" if spec == "lpips-vgg" else "alex"
            if expected != net:
                raise SalicodecError(f"weights {spec} belong to the {expected} backbone, not {net}")
            file = weights_mod.path(spec)
        else:
            file = Path(spec)
            if not file.is_file():
                raise SalicodecError(f"{file}: no such weights file")
        try:
            state = torch.load(file, weights_only=True, map_location="cpu")
        except Exception as e:  # noqa: BLE001 - any unreadable file is the user's bad input
            raise SalicodecError(f"{file}: not a readable weights file ({type(e).__name__})") from None
        if not isinstance(state, dict):
            raise SalicodecError(f"{file}: not an LPIPS weights file (expected a state dict)")
        try:
            ws = [state[f"lin{l}.model.1.weight"].float().reshape(-1) for l in range(5)]
        except KeyError:
            raise SalicodecError(f"{file}: not an LPIPS weights file (no lin0..lin4 weights)") from None
        source = str(file)
    if [w.numel() for w in ws] != list(channels):
        raise SalicodecError(
            f"{source}: channel counts {[w.numel() for w in ws]} do not match the {net} backbone {list(channels)}"
        )
    if any(bool((w < 0).any()) for w in ws):
        raise SalicodecError(f"{source}: per-channel weights must be non-negative")
    return ws


def save_lin_weights(ws: Sequence[torch.Tensor], file: str | os.PathLike, *, force: bool = False) -> None:
    """Write weights in the official LPIPS layout (readable by `load_lin_weights` and by lpips)."""
    import io

    from ..imageio import atomic_write_bytes

    state = {f"lin{l}.model.1.weight": w.detach().float().cpu().reshape(1, -1, 1, 1).clone() for l, w in enumerate(ws)}
    buf = io.BytesIO()
    torch.save(state, buf)
    atomic_write_bytes(Path(file), buf.getvalue(), force=force)


def tap_squared_differences(feats0: list[torch.Tensor], feats1: list[torch.Tensor]) -> list[torch.Tensor]:
    """Per layer: spatial mean of the squared difference of normalised taps, shape (N, C_l).

    The distance is linear in w given these: d = Σ_l ⟨w_l, D_l⟩. The 2AFC trainer uses that.
    """
    out = []
    for f0, f1 in zip(feats0, feats1):
        diff = normalize_channels(f0) - normalize_channels(f1)
        out.append((diff * diff).mean(dim=(2, 3)))
    return out


class DeepPerceptualLoss(nn.Module):
    """DPL / LPIPS: `forward(x, x_hat)` -> (N,) distances; x, x_hat float (N, 3, H, W) in [0, 1].

    Differentiable with respect to x_hat (and x, if it requires grad); the backbone and the
    per-channel weights are frozen buffers, so `.to(device)` moves everything and an optimizer
    over a model containing this module finds no parameters here.
    """

    def __init__(self, net: str = "vgg", lin_weights: LinWeightsSpec = "lpips-vgg",
                 backbone_dtype: torch.dtype = torch.float32):
        super().__init__()
        if backbone_dtype not in (torch.float32, torch.bfloat16):
            raise SalicodecError(f"backbone_dtype must be float32 or bfloat16, not {backbone_dtype}")
        if net not in TAP_CHANNELS:
            raise SalicodecError(f"unknown backbone {net!r}; known: {', '.join(TAP_CHANNELS)}")
        if isinstance(lin_weights, str) and lin_weights == "lpips-vgg" and net == "alex":
            lin_weights = "lpips-alex"
        self.net = net
        self.backbone = Backbone(net)
        self.backbone_dtype = backbone_dtype
        if backbone_dtype == torch.bfloat16:
            # Training speed: bf16 convolutions in channels-last layout run on the CPU's matrix
            # units (AMX/AVX-512-BF16 through oneDNN) and on GPU tensor cores. Measured on this
            # project's CPU, batch 16 of 128x128, fwd + bwd: 2.8 s against 5.4 s in float32.
            # The taps are unit-normalised and compared in float32 (normalize_channels).
            self.backbone.to(torch.bfloat16).to(memory_format=torch.channels_last)
        self.register_buffer("shift", torch.tensor(_SHIFT).view(1, 3, 1, 1))
        self.register_buffer("scale", torch.tensor(_SCALE).view(1, 3, 1, 1))
        for l, w in enumerate(load_lin_weights(lin_weights, net)):
            self.register_buffer(f"w{l}", w.view(1, -1, 1, 1).clone())
        self.requires_grad_(False)
        self.eval()

    def lin_weights(self) -> list[torch.Tensor]:
        return [getattr(self, f"w{l}") for l in range(5)]

    def train(self, mode: bool = True) -> "DeepPerceptualLoss":
        return super().train(False)  # frozen: stays in eval mode inside a training model

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The five tap activations of images x in [0, 1]."""
        if x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(f"expected images (N, 3, H, W), got shape {tuple(x.shape)}")
        x = (2.0 * x - 1.0 - self.shift) / self.scale
        if self.backbone_dtype != torch.float32:
            x = x.to(self.backbone_dtype).contiguous(memory_format=torch.channels_last)
        return self.backbone(x)

    def forward(self, x: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
        if x.shape != x_hat.shape:
            raise ValueError(f"x and x_hat differ in shape: {tuple(x.shape)} vs {tuple(x_hat.shape)}")
        if x.requires_grad:
            return self._distance_direct(self.features(x), self.features(x_hat))
        # The reference needs no graph: computing it without one keeps the loss memory-lean.
        with torch.no_grad():
            feats_x = self.features(x)
        return self.distance_to(feats_x, x_hat)

    def distance_to(self, feats_x: list[torch.Tensor], x_hat: torch.Tensor) -> torch.Tensor:
        """forward(x, x_hat) with the reference's taps given (`features(x)`, computed once when
        many candidates x_hat are compared with one fixed x, as the latent search does)."""
        feats_hat = self.features(x_hat)
        if torch.is_grad_enabled() and x_hat.requires_grad:
            return self._distance_expanded(feats_x, feats_hat)
        return self._distance_direct(feats_x, feats_hat)

    def _distance_direct(self, feats_x: list[torch.Tensor], feats_hat: list[torch.Tensor]) -> torch.Tensor:
        total = feats_hat[0].new_zeros(feats_hat[0].shape[0], dtype=torch.float32)
        for w, f0, f1 in zip(self.lin_weights(), feats_x, feats_hat):
            diff = normalize_channels(f0) - normalize_channels(f1)
            # LPIPS's lin layer on the squared difference, then the spatial mean (Eq. 1, see top).
            total = total + (diff * diff * w.float()).sum(dim=1).mean(dim=(1, 2))
        return total

    def _distance_expanded(self, feats_x: list[torch.Tensor], feats_hat: list[torch.Tensor]) -> torch.Tensor:
        """The same distance as `forward`'s direct form, arranged for training (x fixed, x̂ with grad).

        With â = a/(‖a‖+ε) for the reference tap and r = 1/(‖b‖+ε) for the reconstruction's,
        Σ_c w_c (â_c − r b_c)² = Σ_c w_c â_c² − 2 r Σ_c (w â)_c b_c + r² Σ_c w_c b_c².
        The reference terms need no graph, so each tap of x̂ is read about four times forwards
        and backwards instead of about twice as often: the element-wise work, not VGG-16, was
        most of a CPU training step with the DPL. Equal to the direct form up to float32
        rounding (tests/test_lpips.py); the terms are O(w) and the distance is not much smaller,
        so the cancellation costs nothing visible.
        """
        total = None
        for w, a, b in zip(self.lin_weights(), feats_x, feats_hat):
            w = w.float()
            with torch.no_grad():
                a_hat = normalize_channels(a)
                w_a_hat = w * a_hat
                ref_term = (w_a_hat * a_hat).sum(dim=1)
            b = b.float()
            r = 1.0 / (torch.sqrt(torch.sum(b * b, dim=1) + _EPS * _EPS) + _EPS)
            cross = (w_a_hat * b).sum(dim=1)
            own = (w * b * b).sum(dim=1)
            d = (ref_term - 2.0 * r * cross + r * r * own).mean(dim=(1, 2))
            total = d if total is None else total + d
        return total


def saliency_split(images: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    """Eq. 13's two parts of images (N, 3, H, W) as one batch of 2N: images⊙s, then images⊙(1−s)."""
    return torch.cat([images * s, images * (1 - s)])


def saliency_weighted_dpl(
    dpl: DeepPerceptualLoss,
    x: torch.Tensor,
    x_hat: torch.Tensor,
    s: torch.Tensor,
    w_salient: float = 0.75,
    w_background: float = 0.25,
) -> torch.Tensor:
    """Eq. 13 with D = DPL: w1·D(x⊙s, x̂⊙s) + w2·D(x⊙(1−s), x̂⊙(1−s)); s (N, 1, H, W) in [0, 1].

    Both terms go through the backbone as one batch of 2N images.
    """
    if s.ndim != 4 or s.shape[1] != 1 or s.shape[0] != x.shape[0] or s.shape[2:] != x.shape[2:]:
        raise ValueError(f"saliency must be (N, 1, H, W) matching the images, got {tuple(s.shape)}")
    s = s.to(x.dtype)
    d = dpl(saliency_split(x, s), saliency_split(x_hat, s))
    n = x.shape[0]
    return w_salient * d[:n] + w_background * d[n:]


def _to_unit_tensor(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.array(a, copy=True)).permute(2, 0, 1)[None].float() / 255.0


class LPIPS:
    """Evaluation on RGB uint8 pairs: `LPIPS()(ref, dist) -> float` (0 for identical images).

    Holds one frozen network; create once and reuse (loading VGG-16 takes a moment).
    """

    def __init__(self, net: str = "vgg", lin_weights: LinWeightsSpec = "lpips-vgg", device: str | None = None):
        self.device = torch.device(device or "cpu")
        self.module = DeepPerceptualLoss(net, lin_weights).to(self.device)

    def __call__(self, ref: np.ndarray, dist: np.ndarray) -> float:
        check_pair(ref, dist)
        smallest = 16 if self.module.net == "vgg" else 32  # the taps must keep at least one pixel
        if min(ref.shape[:2]) < smallest:
            raise SalicodecError(f"LPIPS ({self.module.net}) needs images of at least {smallest}x{smallest} pixels")
        if np.array_equal(ref, dist):
            return 0.0
        with torch.no_grad():
            d = self.module(_to_unit_tensor(ref).to(self.device), _to_unit_tensor(dist).to(self.device))
        return float(d[0])


_CACHE: dict[tuple, LPIPS] = {}


def lpips(ref: np.ndarray, dist: np.ndarray, net: str = "vgg", lin_weights: LinWeightsSpec = "lpips-vgg") -> float:
    """LPIPS of one pair, keeping the network between calls (keyed by net and weights spec)."""
    key = (net, str(lin_weights))
    if key not in _CACHE:
        _CACHE[key] = LPIPS(net, lin_weights)
    return _CACHE[key](ref, dist)
