"""3D PixelCNN context models (paper Sec. 3.3, Eq. 7-11; Mentzer et al. 2018 Sec. 3.2).

The latent volume (C, H, W) is treated as a 3D image with one feature; masked 3x3x3 convolutions
make the prediction for symbol (c, h, w) depend only on symbols before it in (channel, row,
column) order. The first stage's model also sees D2(z~) (Eq. 7) through an unmasked 3x3x3
convolution, since the decoder has all of D2(z~) before it decodes y~.

Two ways to evaluate the same network:
* `ContextModel.forward`: the whole volume at once with masked Conv3d, for training (Eq. 9, 11).
* `wavefront_decode_order` + `IncrementalContext`: what the entropy coder uses. Symbols are
  visited in wavefronts t = 4c + 2h + w; every causal neighbour of a symbol lies on an earlier
  wavefront (offsets with dc = -1 lower t by at least 1, dc = 0, dh = -1 by at least 1, dw = -1
  by 1), so all symbols of one wavefront are predicted together, and each layer's activation is
  computed once per position and cached: a new symbol costs one position per layer. Encoder and
  decoder both run this path, so they compute every probability with the same arithmetic.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .layers import MaskedConv3d, causal_offsets


class ContextModel(nn.Module):
    """conv(A) [+ cond] - ReLU - residual(conv(B) - ReLU - conv(B)) - ReLU - conv(B) -> L logits."""

    def __init__(self, num_centres: int, width: int = 24, conditional: bool = False):
        super().__init__()
        self.num_centres = num_centres
        self.width = width
        self.conv_a = MaskedConv3d(1, width, "A")
        self.cond = nn.Conv3d(1, width, 3, padding=1) if conditional else None
        self.res1 = MaskedConv3d(width, width, "B")
        self.res2 = MaskedConv3d(width, width, "B")
        self.out = MaskedConv3d(width, num_centres, "B")

    def forward(self, values: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        """values (N, C, H, W) quantised latents -> logits (N, L, C, H, W)."""
        h1 = self.conv_a(values.unsqueeze(1))
        if self.cond is not None:
            if cond is None:
                raise ValueError("conditional context model needs its conditioning volume")
            h1 = h1 + self.cond(cond.unsqueeze(1))
        h1 = F.relu(h1)
        h3 = h1 + self.res2(F.relu(self.res1(h1)))
        return self.out(F.relu(h3))


@dataclass
class Wavefronts:
    """Positions of a (C, H, W) volume grouped into wavefronts, as flat indices of the padded volume."""

    starts: np.ndarray  # (T + 1,) offsets into `padded_index`
    padded_index: np.ndarray  # (C*H*W,) int64, index into the (C+2)(H+2)(W+2) padded volume
    plain_index: np.ndarray  # (C*H*W,) int64, index into the unpadded C*H*W volume


def wavefront_decode_order(c: int, h: int, w: int) -> Wavefronts:
    cc, hh, ww = np.meshgrid(np.arange(c), np.arange(h), np.arange(w), indexing="ij")
    t = (4 * cc + 2 * hh + ww).ravel()
    plain = np.arange(c * h * w, dtype=np.int64)
    order = np.argsort(t, kind="stable")
    t_sorted = t[order]
    # One entry per non-empty wavefront (small volumes skip some values of t).
    starts = np.append(np.flatnonzero(np.diff(t_sorted, prepend=-1)), len(t_sorted)).astype(np.int64)
    cs, hs, ws = cc.ravel()[order], hh.ravel()[order], ww.ravel()[order]
    padded = ((cs + 1) * (h + 2) + (hs + 1)) * (w + 2) + (ws + 1)
    return Wavefronts(starts, padded.astype(np.int64), plain[order])


class IncrementalContext:
    """Evaluates a ContextModel one wavefront at a time, caching each layer's activations.

    Usage: `for wave in ctx.waves(): probs = ctx.predict(wave); ...; ctx.commit(wave, symbols)`.
    All arithmetic is float32 on the CPU, with the matrices laid out once in `__init__`.
    """

    def __init__(self, model: ContextModel, centres: torch.Tensor, shape: tuple[int, int, int],
                 cond: torch.Tensor | None = None):
        c, h, w = shape
        self.shape = shape
        self.order = wavefront_decode_order(c, h, w)
        self.centres = centres.detach().float().cpu()
        n_pad = (c + 2) * (h + 2) * (w + 2)
        stride_c, stride_h = (h + 2) * (w + 2), (w + 2)
        off_a = [dc * stride_c + dh * stride_h + dw for dc, dh, dw in causal_offsets(False)]
        off_b = [dc * stride_c + dh * stride_h + dw for dc, dh, dw in causal_offsets(True)]
        self.off_a = torch.tensor(off_a, dtype=torch.int64)
        self.off_b = torch.tensor(off_b, dtype=torch.int64)
        width = model.width
        with torch.no_grad():
            self.wa = model.conv_a.causal_matrix().float().cpu()  # (13, width)
            self.w1 = model.res1.causal_matrix().float().cpu()  # (14 * width, width)
            self.w2 = model.res2.causal_matrix().float().cpu()
            self.wo = model.out.causal_matrix().float().cpu()  # (14 * width, L)
            self.b1 = model.res1.bias.detach().float().cpu()
            self.b2 = model.res2.bias.detach().float().cpu()
            self.bo = model.out.bias.detach().float().cpu()
            # Layer one's constant part: its bias plus the conditioning convolution over D2(z~),
            # computed once for the whole volume (the decoder has all of D2(z~) already).
            first = model.conv_a.bias.detach().float().cpu().view(width, 1, 1, 1).expand(width, c, h, w)
            if model.cond is not None:
                if cond is None:
                    raise ValueError("conditional context model needs its conditioning volume")
                first = first + model.cond(cond.detach().float().cpu().view(1, 1, c, h, w))[0]
            self.first = F.pad(first, (1, 1, 1, 1, 1, 1)).reshape(width, n_pad).t().contiguous()
        # Caches are position-major (n_pad, width): gathering a neighbourhood copies whole rows,
        # and (P, K, width) flattens to the (P, K * width) layout of causal_matrix() for free.
        self.values = torch.zeros(n_pad, 1)  # quantised latent values, zero outside the volume
        self.h1 = torch.zeros(n_pad, width)
        self.h2 = torch.zeros(n_pad, width)
        self.r3 = torch.zeros(n_pad, width)  # relu(h3), the input of the output layer

    @property
    def num_waves(self) -> int:
        return len(self.order.starts) - 1

    def wave(self, t: int) -> tuple[np.ndarray, torch.Tensor]:
        """(plain indices, padded indices) of wavefront t."""
        a, b = self.order.starts[t], self.order.starts[t + 1]
        return self.order.plain_index[a:b], torch.from_numpy(self.order.padded_index[a:b])

    @staticmethod
    def _gather(buf: torch.Tensor, idx: torch.Tensor, offs: torch.Tensor) -> torch.Tensor:
        """Rows of `buf` at every causal neighbour of `idx`: (P, K * width)."""
        nb = (idx.unsqueeze(1) + offs.unsqueeze(0)).reshape(-1)  # (P * K,)
        return buf.index_select(0, nb).reshape(idx.numel(), -1)

    def predict(self, idx: torch.Tensor) -> torch.Tensor:
        """Probabilities (P, L) float32 for the positions `idx` (padded flat indices) of one wavefront."""
        with torch.no_grad():
            h1 = torch.relu(self._gather(self.values, idx, self.off_a) @ self.wa + self.first.index_select(0, idx))
            self.h1[idx] = h1
            h2 = torch.relu(self._gather(self.h1, idx, self.off_b) @ self.w1 + self.b1)
            self.h2[idx] = h2
            h3 = h1 + self._gather(self.h2, idx, self.off_b) @ self.w2 + self.b2
            self.r3[idx] = torch.relu(h3)
            logits = self._gather(self.r3, idx, self.off_b) @ self.wo + self.bo
            return torch.softmax(logits, dim=1)

    def commit(self, idx: torch.Tensor, symbols: torch.Tensor) -> None:
        """Write the decoded symbols of a wavefront: later wavefronts read them as causal context."""
        self.values[idx, 0] = self.centres[symbols]
