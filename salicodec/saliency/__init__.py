"""Saliency for the codec (Patel et al. Sec. 3.4): a salient-object detector, user regions of
interest, and the binary mask s on the codec's 1/8 grid.

    prob = resolve("auto", rgb, roi_masks=[...], roi_boxes=[(x0, y0, x1, y1)])  # (H, W) in [0, 1]
    s = grid_mask(prob)                                                          # (H/8, W/8) bool

Modules: u2netp (the U^2-Net-p model via onnxruntime), masks (grid mask, user masks and boxes),
args (the shared CLI options), batch (content-keyed precomputation for training), pictures
(overlays and contact sheets for checking masks), command (the `salicodec saliency` subcommand).

Names are imported lazily (PEP 562), so that building the CLI parser with `add_saliency_args`
does not import numpy, PIL or onnxruntime.
"""
from __future__ import annotations

import importlib

_EXPORTS = {
    "saliency_map": "u2netp",
    "resolve": "masks",
    "grid_mask": "masks",
    "load_mask": "masks",
    "parse_box": "masks",
    "salient_fraction": "masks",
    "upsample_grid": "masks",
    "GRID_FACTOR": "masks",
    "DEFAULT_THRESHOLD": "masks",
    "DEFAULT_DILATE": "masks",
    "add_saliency_args": "args",
    "saliency_from_args": "args",
    "precompute_masks": "batch",
    "mask_path_for": "batch",
    "load_cached_mask": "batch",
    "overlay": "pictures",
    "contact_sheet": "pictures",
}

__all__ = list(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + __all__)
