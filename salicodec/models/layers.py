"""Building blocks of the codec: residual blocks, non-local attention, masked 3D convolutions."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class ResidualBlock(nn.Module):
    """conv3x3 - ReLU - conv3x3, plus the input (He et al. 2016), as in Mentzer et al. 2018."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(F.relu(self.conv1(x)))


class NonLocalBlock(nn.Module):
    """Embedded-Gaussian non-local block (Wang et al., CVPR 2018), the paper's self-attention layer.

    Keys and values are max-pooled 2x2 (the 'subsampling' variant of Wang et al. Sec. 3.3), and the
    attention is computed over chunks of queries so that memory stays bounded on large images
    (a 2000x1500 image has 47k positions on the /8 grid). The output projection starts at zero,
    so a freshly initialised block is the identity.
    """

    def __init__(self, channels: int, query_chunk: int = 4096):
        super().__init__()
        inner = max(channels // 2, 1)
        self.theta = nn.Conv2d(channels, inner, 1)
        self.phi = nn.Conv2d(channels, inner, 1)
        self.g = nn.Conv2d(channels, inner, 1)
        self.out = nn.Conv2d(inner, channels, 1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)
        self.query_chunk = query_chunk

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, _, h, w = x.shape
        q = self.theta(x).flatten(2).transpose(1, 2)  # (n, hw, d)
        kv_in = F.max_pool2d(x, 2) if h >= 2 and w >= 2 else x
        k = self.phi(kv_in).flatten(2)  # (n, d, m)
        v = self.g(kv_in).flatten(2).transpose(1, 2)  # (n, m, d)
        chunks = []
        for start in range(0, q.shape[1], self.query_chunk):
            att = torch.softmax(q[:, start : start + self.query_chunk] @ k, dim=-1)
            chunks.append(att @ v)
        y = torch.cat(chunks, dim=1).transpose(1, 2).reshape(n, -1, h, w)
        return x + self.out(y)


class Upsample2x(nn.Module):
    """Sub-pixel convolution: conv to 4x channels, then pixel shuffle (no checkerboard artefacts)."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout * 4, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.pixel_shuffle(self.conv(x), 2)


def causal_offsets(include_centre: bool) -> list[tuple[int, int, int]]:
    """Offsets (dc, dh, dw) of a 3x3x3 kernel that precede the centre in (channel, row, column) order.

    Mask 'A' (first layer) excludes the centre, mask 'B' (later layers) includes it, as in
    PixelCNN (van den Oord et al. 2016) extended to 3D by Mentzer et al. 2018.
    """
    offs = []
    for dc in (-1, 0, 1):
        for dh in (-1, 0, 1):
            for dw in (-1, 0, 1):
                before = (dc, dh, dw) < (0, 0, 0)
                if before or (include_centre and (dc, dh, dw) == (0, 0, 0)):
                    offs.append((dc, dh, dw))
    return offs


class MaskedConv3d(nn.Conv3d):
    """3x3x3 convolution over the (channel, row, column) volume that sees only causal neighbours."""

    def __init__(self, cin: int, cout: int, mask_type: str):
        super().__init__(cin, cout, 3, padding=1)
        if mask_type not in ("A", "B"):
            raise ValueError("mask_type must be 'A' or 'B'")
        self.mask_type = mask_type
        mask = torch.zeros(1, 1, 3, 3, 3)
        for dc, dh, dw in causal_offsets(mask_type == "B"):
            mask[0, 0, dc + 1, dh + 1, dw + 1] = 1.0
        self.register_buffer("mask", mask, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv3d(x, self.weight * self.mask, self.bias, padding=1)

    def causal_matrix(self) -> torch.Tensor:
        """The non-zero taps as a (K * cin, cout) matrix, K = number of causal offsets.

        Row order is offset-major, input-channel-minor: it multiplies a gathered neighbourhood
        laid out as (positions, K, cin) flattened to (positions, K * cin).
        """
        offs = causal_offsets(self.mask_type == "B")
        taps = [self.weight[:, :, dc + 1, dh + 1, dw + 1].t() for dc, dh, dw in offs]  # (cin, cout)
        return torch.cat(taps, dim=0)
