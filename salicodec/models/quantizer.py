"""Learned scalar quantisation to L centres (paper Sec. 3.2, after Agustsson et al. 2017)."""
from __future__ import annotations

import torch
from torch import nn


class CentreQuantizer(nn.Module):
    """Hard nearest-centre assignment forward (Eq. 5), soft assignment for the gradient (Eq. 6, squared distance).

    Training returns soft + (hard - soft).detach(): the forward value is exactly a centre, the
    gradient is that of the soft assignment. In eval mode the hard centres are returned as they
    are, so the model's forward reconstruction and the decoder see bit-identical latents.
    """

    def __init__(self, num_centres: int, init_range: tuple[float, float] = (-2.0, 2.0), sigma: float = 1.0):
        super().__init__()
        self.centres = nn.Parameter(torch.linspace(init_range[0], init_range[1], num_centres))
        self.sigma = sigma

    @property
    def num_centres(self) -> int:
        return self.centres.numel()

    def sorted_centres(self) -> torch.Tensor:
        # Centres can cross during training; symbols are indices into the sorted list, so that an
        # index always means the same value for encoder and decoder.
        return torch.sort(self.centres.detach()).values

    def indices(self, y: torch.Tensor) -> torch.Tensor:
        c = self.sorted_centres()
        return torch.argmin((y.detach().unsqueeze(-1) - c).abs(), dim=-1)

    def zero_index(self) -> int:
        """The symbol of the centre nearest 0: what a masked-out latent (value 0) quantises to."""
        return int(torch.argmin(self.sorted_centres().abs()))

    def forward(self, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if not self.training:
            idx = self.indices(y)
            return self.sorted_centres()[idx], idx
        return self.straight_through(y)

    def straight_through(self, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(value, symbol): the hard centre forward, the soft assignment's gradient backward.
        What training uses, whatever the mode (the encoder's latent search, models/refine.py)."""
        idx = self.indices(y)
        c_sorted = self.sorted_centres()
        hard = c_sorted[idx]
        # Beyond the outermost centres the soft value saturates while the gradient keeps its
        # sign; Adam turns such tiny gradients into steady steps and y drifted to +-1000. Clamping
        # one unit outside the centres leaves the hard symbol unchanged and stops that.
        lo, hi = c_sorted[0] - 1.0, c_sorted[-1] + 1.0
        y = torch.maximum(torch.minimum(y, hi), lo)
        # Eq. 6 with the squared distance of Agustsson et al. 2017 and Mentzer et al. 2018:
        # softmax over -sigma * (y - c_j)^2, the soft value is the expected centre. With the plain
        # distance |y - c_j| the softmax stops depending on y once y is outside the centres'
        # range (all distances then shift together), the gradient vanishes, and training
        # collapsed here (latents drifted to +-1000, the importance map to 0).
        dist = (y.unsqueeze(-1) - self.centres).pow(2)
        soft = (torch.softmax(-self.sigma * dist, dim=-1) * self.centres).sum(-1)
        return soft + (hard - soft).detach(), idx
