"""Encoder-side latent refinement: a per-image search for better symbols (an encoder option).

E1 is amortised: one network maps every image to its latents, and a network trained for as
short a time as ours leaves distortion that a search for this one image finds (the
"amortisation gap"; for learned codecs Campos et al. 2019, "Content adaptive optimization for
neural image compression", and Yang et al. 2020, "Improving inference for neural image
compression"). After E1, the encoder improves the continuous latents y of the image by gradient
descent with everything else fixed (D1, E2, D2, both context models, the centres):

    minimise  D(x, D1(y~))   subject to   R(y~, z~) <= R0,       y~ = Q(y * m1)

    D  = Eq. 13's MSE: 0.75 on salient and 0.25 on non-salient pixels
         [+ Eq. 13's DPL / 400 with a perceptual module: the paper's D = MSE + DPL, weighted as
         every shipped member was trained (dpl_weight / mse_scale = 1/400, docs/MODELS.md)]
    R  = Eq. 12: the masked cross-entropy of y~ and z~ (z~ = Q(E2(y~)) as the encoder makes it)
    R0 = R of E1's own latents, so a refined file costs no more than the plain one (the model's
         estimate; the range coder lands within 0.3 % of it, docs/BENCHMARKS.md)

solved on the Lagrangian D/D0 + lambda * R/R0 with lambda raised while R is above 99.5 % of R0
and lowered otherwise (dual ascent). The gradient passes the quantiser as in training: the forward value is
the hard centre, the backward that of Eq. 6's soft assignment. The channel mask m1 (the
importance map and the saliency mask, Sec. 3.4) is kept as E1 and the saliency model made it:
salient positions keep all channels, masked symbols still cost nothing, and only the values of
coded symbols move. The result is the best iterate that meets the rate bound, measured on the
exact hard latents in float32.

Nothing about the file changes: the decoder reads the symbols as always. What changes is the
encoder's time (each step is one forward and backward pass through D1 and the y context model)
and determinism across machines: the search runs in floating point, so two machines may choose
different (equally decodable) symbols. DPL is in D only when asked for (`perceptual`): VGG-16
on two masked copies of the image per step costs 14 times the rest of a step on a CPU (32 s
against 2.3 s at 768x512), and the MSE search lowers LPIPS too (docs/BENCHMARKS.md, "Latent
refinement"). The evaluation's LPIPS is the same network as the DPL, so with it the LPIPS gain
of the search is no independent evidence; PSNR and MS-SSIM are.
"""
from __future__ import annotations

import contextlib
import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..hardware import bf16_is_fast
from ..metrics.lpips import saliency_split
from .masks import mask_from_counts

W_SALIENT, W_BACKGROUND = 0.75, 0.25  # Eq. 13
DUAL_STEP = 100.0  # lambda += DUAL_STEP * (R - R_AIM * R0) / R0 each step
# The search aims a little below the bound: its rate wanders by a few tenths of a percent from
# step to step, and aimed at R0 itself half of the iterates are over it (on a 64 x 96 crop all
# those the exact check saw were).
R_AIM = 0.995
CHECK_EVERY = 5  # exact float32 evaluation of the iterate every this many steps (and at the end)
DPL_PER_MSE = 1.0 / 400.0  # dpl_weight / mse_scale of every shipped member's training loss


@dataclass
class RefineStats:
    steps: int
    bits_before: float  # R0, the model's estimate for E1's latents (y and z)
    bits_after: float
    distortion_before: float  # D: Eq. 13's weighted MSE on [0, 1] pixels (padding excluded) [+ DPL / 400]
    distortion_after: float


@dataclass
class _Evaluation:
    bits: torch.Tensor  # 0-d, y and z
    distortion: torch.Tensor  # 0-d


class _Objective:
    """D and R of one image for candidate latents y, with the coded positions fixed."""

    def __init__(self, net, x: torch.Tensor, valid: tuple[int, int], saliency_px: torch.Tensor | None,
                 m1: torch.Tensor, perceptual=None):
        self.net, self.x, self.m1 = net, x, m1
        h, w = self.valid = valid
        weight = torch.zeros_like(x[:, :1])
        if saliency_px is None:
            weight[..., :h, :w] = W_BACKGROUND
        else:
            s = saliency_px[..., :h, :w]
            weight[..., :h, :w] = W_SALIENT * s + W_BACKGROUND * (1.0 - s)
        # Mean over the image's own pixels: the padding up to a multiple of 32 is not the image.
        self.weight = weight / (h * w)
        self.centres = net.q1.sorted_centres()
        self.centres_z = net.q2.sorted_centres() if net.cfg.hierarchical else None
        self.perceptual = perceptual
        if perceptual is not None:
            # Eq. 13 with D = DPL, as training's saliency_weighted_dpl, with the reference's taps
            # computed once: the salient and the non-salient part of x as a batch of two.
            self.dpl_s = saliency_px[..., :h, :w] if saliency_px is not None else torch.zeros_like(x[:, :1, :h, :w])
            with torch.no_grad():
                self.dpl_reference = perceptual.features(saliency_split(x[..., :h, :w], self.dpl_s))

    def __call__(self, y: torch.Tensor, grad: bool) -> _Evaluation:
        from .codec import _bits

        net, cfg = self.net, self.net.cfg
        # As SaliCodec: masked positions are 0 before quantisation, i.e. the centre nearest 0.
        y_masked = y * self.m1
        if grad:
            y_t, y_idx = net.q1.straight_through(y_masked)
        else:
            y_idx = net.q1.indices(y_masked)
            y_t = self.centres[y_idx]
        cond = None
        bits_z = torch.zeros((), device=y.device)
        with torch.no_grad():
            if cfg.hierarchical:
                # z~ follows y~ exactly as the encoder makes it; it does not steer y.
                k2, z_idx = net.analysis_z(self.centres[y_idx])
                m2 = mask_from_counts(k2, cfg.channels).float()
                z_t = self.centres_z[z_idx]
                cond = net.d2(z_t)
                bits_z = _bits(net.ctx_z(z_t), z_idx, m2).sum()
        logits = net.ctx_y(y_t, cond) if cond is not None else net.ctx_y(y_t)
        bits_y = _bits(logits.float(), y_idx, self.m1).sum()
        x_hat = net.d1(y_t).float()
        distortion = ((self.x - x_hat).pow(2).mean(1, keepdim=True) * self.weight).sum()
        if self.perceptual is not None:
            h, w = self.valid
            d = self.perceptual.distance_to(self.dpl_reference, saliency_split(x_hat[..., :h, :w], self.dpl_s))
            distortion = distortion + DPL_PER_MSE * (W_SALIENT * d[0] + W_BACKGROUND * d[1])
        return _Evaluation(bits_y + bits_z, distortion)


def refine_latents(net, x: torch.Tensor, y: torch.Tensor, k1: torch.Tensor, saliency: torch.Tensor | None,
                   valid: tuple[int, int], steps: int, lr: float = 0.005,
                   bf16: bool | None = None, on_step: Callable[[int], None] | None = None,
                   perceptual=None) -> tuple[torch.Tensor, RefineStats]:
    """Refine E1's latents y (1, C, H/8, W/8) of image x (1, 3, H, W) for `steps` steps.

    k1 (1, H/8, W/8) are the channel counts E1 and the saliency mask chose (kept), saliency the
    (1, 1, H/8, W/8) grid mask or None, valid = (h, w) the image's size inside the padding.
    bf16: the gradient passes in bfloat16 autocast (about twice as fast on a CPU with bf16
    matrix units, and on a GPU; ten times slower on a CPU without them, hence None = where
    `hardware.bf16_is_fast` says so); every candidate is judged in float32 all the same.
    on_step(n) is called after the n-th step (a progress bar: a step takes seconds on a CPU).
    perceptual: a metrics.lpips.DeepPerceptualLoss to add Eq. 13's DPL to D (float32 backbone;
    under bf16 autocast its convolutions run in bf16 like the rest of the gradient pass).
    Returns the refined latents (hard-quantising them gives the symbols to code) and statistics.
    """
    if steps < 0:
        raise ValueError("refinement steps must be >= 0")
    if bf16 is None:
        bf16 = bf16_is_fast(x.device)
    m1 = mask_from_counts(k1, net.cfg.channels).to(x.dtype)
    s_px = None
    if saliency is not None:
        s_px = F.interpolate(saliency.to(x.dtype), size=x.shape[2:], mode="nearest")
    objective = _Objective(net, x, valid, s_px, m1, perceptual)
    with torch.enable_grad():  # callers (encode_latents) run under no_grad
        with torch.no_grad():
            first = objective(y, grad=False)
        r0, d0 = float(first.bits), float(first.distortion)
        best_y, best_d, best_r = y.detach().clone(), d0, r0
        u = y.detach().clone().requires_grad_(True)
        opt = torch.optim.Adam([u], lr=lr)
        lam = 1.0
        autocast = torch.autocast(x.device.type, dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()
        for i in range(steps):
            for g in opt.param_groups:  # cosine decay to 0
                g["lr"] = lr * 0.5 * (1.0 + math.cos(math.pi * i / steps))
            with autocast:
                ev = objective(u, grad=True)
            loss = ev.distortion / d0 + lam * ev.bits / r0
            # The gradient of u alone: the model's weights are left as they are (no .grad on them).
            (u.grad,) = torch.autograd.grad(loss, [u])
            opt.step()
            lam = max(0.0, lam + DUAL_STEP * (float(ev.bits.detach()) - R_AIM * r0) / r0)
            if (i + 1) % CHECK_EVERY == 0 or i + 1 == steps:
                with torch.no_grad():
                    exact = objective(u, grad=False)
                d, r = float(exact.distortion), float(exact.bits)
                if r <= r0 and d < best_d:
                    best_y, best_d, best_r = u.detach().clone(), d, r
            if on_step is not None:
                on_step(i + 1)
    return best_y, RefineStats(steps, r0, best_r, d0, best_d)


__all__ = ["refine_latents", "RefineStats"]
