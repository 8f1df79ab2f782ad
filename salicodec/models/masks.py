"""Importance map + saliency -> channel mask (paper Sec. 3.4, Fig. 4b; Mentzer et al. 2018 Sec. 3.3).

Definition (also in docs/MODELS.md):
  i      = sigmoid(E1(x)[C])              importance map in (0, 1), one value per /8 position
  s      in {0, 1}                         binary saliency mask on the same grid
  m1     = lambda1 * s + lambda2 * i       (lambda1 = lambda2 = 1 in the paper)
  k      = ceil(C * clamp(m1, 0, 1))       channels kept at that position, 0..C
  mask_c = 1 if c < k else 0               a position keeps its first k channels

So a salient position (s = 1) keeps all C channels, and since m1 only grows with s, a salient
position never keeps fewer channels than it would without saliency. In training the forward
pass uses Mentzer's soft mask clamp(C * m - c, 0, 1) (the channel at the boundary is scaled, not
cut): a straight-through hard mask gave gradients that drove the importance map to 0. The second
stage uses the same expansion with m2 = i2 (no saliency).
"""
from __future__ import annotations

import torch


def combined_importance(importance: torch.Tensor, saliency: torch.Tensor | None,
                        saliency_weight: float = 1.0, importance_weight: float = 1.0) -> torch.Tensor:
    """m1 = lambda1 * s + lambda2 * i, clamped to [0, 1] (Sec. 3.4)."""
    m = importance_weight * importance
    if saliency is not None:
        m = m + saliency_weight * saliency
    return m.clamp(0.0, 1.0)


def kept_channels(importance: torch.Tensor, saliency: torch.Tensor | None, channels: int,
                  saliency_weight: float = 1.0, importance_weight: float = 1.0) -> torch.Tensor:
    """k per position (integer tensor, same shape as `importance`): the hard channel count."""
    m = combined_importance(importance, saliency, saliency_weight, importance_weight)
    return torch.ceil(channels * m).to(torch.int64)


def channel_mask(importance: torch.Tensor, saliency: torch.Tensor | None, channels: int,
                 saliency_weight: float = 1.0, importance_weight: float = 1.0,
                 mode: str = "hard") -> torch.Tensor:
    """Expand (N, 1, H, W) maps into an (N, C, H, W) mask.

    mode "hard": the mask the codec codes with; "soft": Mentzer's clamp(C*m - c, 0, 1), used in
    the training forward pass (one fractional channel per position, exact gradients);
    "straight_through": hard forward, soft gradient.
    """
    m = combined_importance(importance, saliency, saliency_weight, importance_weight)
    c = torch.arange(channels, device=m.device, dtype=m.dtype).view(1, channels, 1, 1)
    hard = (c < torch.ceil(channels * m)).to(m.dtype)
    if mode == "hard":
        return hard
    soft = (channels * m - c).clamp(0.0, 1.0)
    if mode == "soft":
        return soft
    if mode == "straight_through":
        return soft + (hard - soft).detach()
    raise ValueError(f"unknown mask mode {mode!r}")


def mask_from_counts(k: torch.Tensor, channels: int) -> torch.Tensor:
    """(N, H, W) integer counts -> (N, C, H, W) boolean mask; what the decoder rebuilds."""
    c = torch.arange(channels, device=k.device).view(1, channels, 1, 1)
    return c < k.unsqueeze(1)


def ceil_div(a: int, b: int) -> int:
    return -(-a // b)


__all__ = ["combined_importance", "kept_channels", "channel_mask", "mask_from_counts", "ceil_div"]
