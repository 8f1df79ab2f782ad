"""U^2-Net-p in PyTorch, with the weights of the ONNX export, for saliency on the GPU during training.

The architecture is that of Qin et al. 2020 (official `model/u2net.py`, class U2NETP): six
residual U-blocks (RSU-7, -6, -5, -4 and the dilated RSU-4F) in the encoder, five in the decoder,
six side outputs fused by a 1x1 convolution. The ONNX export folded every BatchNorm into the
preceding convolution, so each "REBNCONV" here is a biased 3x3 convolution and a ReLU: the same
function in inference, with the same numbers.

Loading: the ONNX graph's Conv nodes are in the order the exporter traced them, which is the order
the forward pass below calls its convolutions; the weights are assigned in that order, and every
kernel size, dilation and padding is checked against the node's attributes (a mismatch raises).
tests/saliency/test_saliency_torch.py checks that the port and onnxruntime agree.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .. import weights
from .onnx_graph import read_graph
from .u2netp import IMAGENET_MEAN, IMAGENET_STD, INPUT_SIZE


def _upsample_like(x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    # Exported as Resize(linear, pytorch_half_pixel) = bilinear without align_corners.
    return F.interpolate(x, size=like.shape[2:], mode="bilinear", align_corners=False)


class ConvReLU(nn.Sequential):
    """REBNCONV of U^2-Net with its BatchNorm folded into the convolution."""

    def __init__(self, in_ch: int, out_ch: int, dilation: int = 1):
        super().__init__(nn.Conv2d(in_ch, out_ch, 3, padding=dilation, dilation=dilation), nn.ReLU(inplace=True))


class RSU(nn.Module):
    """Residual U-block of height L (RSU-L): an encoder-decoder inside a residual connection.

    RSU-7..4 pool between encoder levels and use dilation 2 at the bottom; RSU-4F ("dilated")
    keeps the resolution and grows the dilation instead: 1, 2, 4, 8.
    """

    def __init__(self, height: int, in_ch: int, mid_ch: int, out_ch: int, dilated: bool = False):
        super().__init__()
        self.height, self.dilated = height, dilated
        self.dilations = [1, 2, 4, 8][:height] if dilated else [1] * (height - 1) + [2]
        self.conv_in = ConvReLU(in_ch, out_ch)
        self.encoder = nn.ModuleList(
            ConvReLU(out_ch if i == 0 else mid_ch, mid_ch, self.dilations[i]) for i in range(height)
        )
        # Decoder levels height-2 ... 0, each fed the level below and the encoder's skip.
        self.decoder = nn.ModuleList(
            ConvReLU(2 * mid_ch, out_ch if level == 0 else mid_ch, self.dilations[level])
            for level in range(height - 2, -1, -1)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        hx_in = self.conv_in(x)
        skips = []
        hx = hx_in
        for i, conv in enumerate(self.encoder):
            hx = conv(hx)
            skips.append(hx)
            if not self.dilated and i < self.height - 2:
                hx = F.max_pool2d(hx, 2, stride=2, ceil_mode=True)
        hx = skips[-1]
        for j, conv in enumerate(self.decoder):
            level = self.height - 2 - j
            hx = conv(torch.cat((hx, skips[level]), dim=1))
            if not self.dilated and level > 0:
                hx = _upsample_like(hx, skips[level - 1])
        return hx + hx_in


class U2NetP(nn.Module):
    """U^2-Net-p: (N, 3, H, W) normalised image -> fused sigmoid probability d0 (N, 1, H, W)."""

    def __init__(self):
        super().__init__()
        self.encoder = nn.ModuleList(
            [RSU(7, 3, 16, 64), RSU(6, 64, 16, 64), RSU(5, 64, 16, 64), RSU(4, 64, 16, 64),
             RSU(4, 64, 16, 64, dilated=True), RSU(4, 64, 16, 64, dilated=True)]
        )
        self.decoder = nn.ModuleList(  # stage5d, 4d, 3d, 2d, 1d
            [RSU(4, 128, 16, 64, dilated=True), RSU(4, 128, 16, 64), RSU(5, 128, 16, 64),
             RSU(6, 128, 16, 64), RSU(7, 128, 16, 64)]
        )
        self.side = nn.ModuleList(nn.Conv2d(64, 1, 3, padding=1) for _ in range(6))  # side1..side6
        self.outconv = nn.Conv2d(6, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = []
        hx = x
        for i, stage in enumerate(self.encoder):
            hx = stage(hx)
            feats.append(hx)
            if i < len(self.encoder) - 1:
                hx = F.max_pool2d(hx, 2, stride=2, ceil_mode=True)
        dec = [feats[5]]  # hx6, then hx5d, hx4d, hx3d, hx2d, hx1d
        for k, stage in enumerate(self.decoder):
            level = 4 - k  # hx5 ... hx1
            up = _upsample_like(dec[-1], feats[level])
            dec.append(stage(torch.cat((up, feats[level]), dim=1)))
        hx1d, hx2d, hx3d, hx4d, hx5d, hx6 = dec[5], dec[4], dec[3], dec[2], dec[1], dec[0]
        d1 = self.side[0](hx1d)
        sides = [d1] + [
            _upsample_like(self.side[i](h), d1) for i, h in enumerate((hx2d, hx3d, hx4d, hx5d, hx6), start=1)
        ]
        return torch.sigmoid(self.outconv(torch.cat(sides, dim=1)))


def _convs_in_call_order(model: nn.Module) -> list[nn.Conv2d]:
    order: list[nn.Conv2d] = []
    hooks = [m.register_forward_hook(lambda mod, i, o: order.append(mod)) for m in model.modules()
             if isinstance(m, nn.Conv2d)]
    try:
        with torch.no_grad():
            model(torch.zeros(1, 3, 16, 16))
    finally:
        for h in hooks:
            h.remove()
    return order


def load_u2netp(onnx_path=None, device: str | torch.device = "cpu") -> U2NetP:
    """U2NetP with the weights of the cached ONNX export (see module doc), in eval mode."""
    graph = read_graph(onnx_path or weights.path("u2netp"))
    conv_nodes = [n for n in graph.nodes if n.op_type == "Conv"]
    model = U2NetP()
    convs = _convs_in_call_order(model)
    if len(convs) != len(conv_nodes):
        raise ValueError(f"ONNX graph has {len(conv_nodes)} convolutions, the port {len(convs)}")
    with torch.no_grad():
        for k, (conv, node) in enumerate(zip(convs, conv_nodes)):
            w = graph.initializers[node.inputs[1]]
            b = graph.initializers[node.inputs[2]]
            a = node.attributes
            expected = (list(conv.kernel_size), list(conv.dilation), [conv.padding[0]] * 4, list(conv.stride))
            found = (a.get("kernel_shape"), a.get("dilations", [1, 1]), a.get("pads", [0] * 4), a.get("strides", [1, 1]))
            if tuple(w.shape) != tuple(conv.weight.shape) or expected != found:
                raise ValueError(f"convolution {k}: ONNX {w.shape} {found} != port {tuple(conv.weight.shape)} {expected}")
            conv.weight.copy_(torch.from_numpy(w))
            conv.bias.copy_(torch.from_numpy(b))
    return model.eval().to(device)


class TorchSaliency(nn.Module):
    """Batch saliency on any device: (N, 3, H, W) RGB in [0, 1] -> (N, 1, H, W) probability.

    The pre-processing of u2netp.preprocess in torch: antialiased bilinear resize to 320x320 (as
    PIL's), division by each image's maximum, ImageNet mean/std; the output is resized back.
    """

    def __init__(self, onnx_path=None, device: str | torch.device = "cpu"):
        super().__init__()
        self.net = load_u2netp(onnx_path, device)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN, device=device).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD, device=device).view(1, 3, 1, 1))
        for p in self.parameters():
            p.requires_grad_(False)

    @torch.no_grad()
    def forward(self, rgb01: torch.Tensor) -> torch.Tensor:
        h, w = rgb01.shape[2:]
        x = F.interpolate(rgb01.float(), size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear",
                          align_corners=False, antialias=True)
        peak = x.amax(dim=(1, 2, 3), keepdim=True).clamp_min(1e-6)
        x = (x / peak - self.mean) / self.std
        d0 = self.net(x)
        return F.interpolate(d0, size=(h, w), mode="bilinear", align_corners=False).clamp_(0.0, 1.0)
