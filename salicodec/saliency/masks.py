"""Saliency masks: user masks and boxes, their combination, and the binary mask on the codec's grid.

The codec's mask s of Patel et al. Sec. 3.4 lives on the grid of the first bottleneck, W/8 x H/8,
and is binary: s_i in {0, 1}. It is derived here from a full-resolution probability map:

1. mean-pool the probability over each factor x factor block (edge blocks of an image whose size is
   not a multiple of the factor average their valid pixels only);
2. threshold: a cell is salient when its mean probability is >= `threshold` (default 0.5: at least
   half of the block is the object, for a sigmoid output that is near 0 or 1 almost everywhere);
3. dilate by `dilate` cells (a (2d+1)x(2d+1) square, default 1): the object's outline falls in the
   cells next to the ones that pass the threshold, and the decoder's receptive field reaches across
   them, so an undilated mask gives the object's border the background's bits.

The defaults were chosen by looking at the Kodak overlays (docs/saliency_kodak.jpg) and the
salient fractions in docs/BENCHMARKS.md ("## Saliency").
"""
from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Iterable, Sequence, Union

import numpy as np
from PIL import Image, UnidentifiedImageError

from ..errors import SalicodecError

GRID_FACTOR = 8
DEFAULT_THRESHOLD = 0.5
DEFAULT_DILATE = 1

Box = tuple[int, int, int, int]
MaskLike = Union[str, os.PathLike, np.ndarray]


def grid_mask(
    prob: np.ndarray,
    factor: int = GRID_FACTOR,
    threshold: float = DEFAULT_THRESHOLD,
    dilate: int = DEFAULT_DILATE,
) -> np.ndarray:
    """Binary mask (ceil(H/f), ceil(W/f)) bool from a (H, W) probability map (see module doc)."""
    prob = np.asarray(prob, dtype=np.float32)
    if prob.ndim != 2 or prob.shape[0] < 1 or prob.shape[1] < 1:
        raise ValueError(f"grid_mask needs a non-empty (H, W) array, got shape {prob.shape}")
    if factor < 1 or dilate < 0 or not 0.0 <= threshold <= 1.0:
        raise ValueError(f"grid_mask: factor >= 1, dilate >= 0, 0 <= threshold <= 1 (got {factor}, {dilate}, {threshold})")
    h, w = prob.shape
    gh, gw = math.ceil(h / factor), math.ceil(w / factor)
    padded = np.zeros((gh * factor, gw * factor), dtype=np.float64)
    padded[:h, :w] = prob
    valid = np.zeros_like(padded)
    valid[:h, :w] = 1.0
    sums = padded.reshape(gh, factor, gw, factor).sum(axis=(1, 3))
    counts = valid.reshape(gh, factor, gw, factor).sum(axis=(1, 3))
    cells = (sums / counts) >= threshold
    return dilate_square(cells, dilate)


def dilate_square(mask: np.ndarray, radius: int) -> np.ndarray:
    """Binary dilation by a (2r+1)x(2r+1) square (a maximum filter), with plain numpy."""
    if radius <= 0:
        return mask.copy()
    h, w = mask.shape
    padded = np.zeros((h + 2 * radius, w + 2 * radius), dtype=bool)
    padded[radius : radius + h, radius : radius + w] = mask
    out = np.zeros_like(mask)
    for dy in range(2 * radius + 1):
        for dx in range(2 * radius + 1):
            out |= padded[dy : dy + h, dx : dx + w]
    return out


def upsample_grid(cells: np.ndarray, height: int, width: int, factor: int = GRID_FACTOR) -> np.ndarray:
    """The grid mask back at image resolution (each cell a factor x factor block), cropped."""
    if cells.shape != (math.ceil(height / factor), math.ceil(width / factor)):
        raise ValueError(f"grid {cells.shape} does not match a {width}x{height} image at factor {factor}")
    return np.repeat(np.repeat(cells, factor, axis=0), factor, axis=1)[:height, :width]


def salient_fraction(cells: np.ndarray) -> float:
    return float(np.mean(cells)) if cells.size else 0.0


# --------------------------------------------------------------------------------------------
# user masks and boxes
def load_mask(path: str | os.PathLike, size_hw: tuple[int, int]) -> np.ndarray:
    """A mask image as a (H, W) float32 probability: 8-bit grey /255 (white = salient)."""
    p = Path(path)
    if not p.exists():
        raise SalicodecError(f"{p}: no such mask file")
    if p.is_dir():
        raise SalicodecError(f"{p}: is a directory, not a mask image")
    try:
        with Image.open(p) as img:
            img.load()
            mode = img.mode
            if mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in img.info):
                raise SalicodecError(
                    f"{p}: mask has an alpha channel (mode {mode}); use a greyscale PNG, white = salient"
                )
            if mode.startswith("I;16") or mode == "I":
                a = np.asarray(img, dtype=np.float32) / 65535.0
            else:
                a = np.asarray(img.convert("L"), dtype=np.float32) / 255.0
    except SalicodecError:
        raise
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
        raise SalicodecError(f"{p}: not a readable mask image ({type(e).__name__})") from None
    h, w = size_hw
    if a.shape != (h, w):
        raise SalicodecError(
            f"{p}: mask is {a.shape[1]}x{a.shape[0]} but the image is {w}x{h}; a mask must have the image's size"
        )
    return np.clip(a, 0.0, 1.0)


def parse_box(text: str) -> Box:
    """'x0,y0,x1,y1' (pixels; x1, y1 exclusive, as in PIL's crop box) -> a tuple of ints."""
    parts = [t.strip() for t in str(text).split(",")]
    try:
        if len(parts) != 4:
            raise ValueError
        x0, y0, x1, y1 = (int(t) for t in parts)
    except ValueError:
        raise SalicodecError(f"--roi-box {text!r}: expected four integers x0,y0,x1,y1 (pixels)") from None
    return x0, y0, x1, y1


def check_box(box: Sequence[int], size_hw: tuple[int, int]) -> Box:
    h, w = size_hw
    if len(box) != 4:
        raise SalicodecError(f"ROI box {tuple(box)}: expected four values x0,y0,x1,y1")
    x0, y0, x1, y1 = (int(v) for v in box)
    if not (0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h):
        raise SalicodecError(
            f"ROI box {x0},{y0},{x1},{y1} is not inside the {w}x{h} image "
            f"(need 0 <= x0 < x1 <= {w} and 0 <= y0 < y1 <= {h}; x1, y1 exclusive)"
        )
    return x0, y0, x1, y1


def _as_mask(m: MaskLike, size_hw: tuple[int, int]) -> np.ndarray:
    if isinstance(m, np.ndarray):
        a = m.astype(np.float32)
        if a.shape != tuple(size_hw):
            raise SalicodecError(f"ROI mask of shape {a.shape} does not match the image {tuple(size_hw)}")
        return np.clip(a, 0.0, 1.0)
    return load_mask(m, size_hw)


def resolve(
    spec: str | os.PathLike,
    rgb: np.ndarray,
    roi_masks: Iterable[MaskLike] = (),
    roi_boxes: Iterable[Sequence[int]] = (),
) -> np.ndarray:
    """The saliency probability (H, W) float32 in [0, 1] the codec should use for `rgb`.

    spec: "auto" (U^2-Net-p), "none" (all zeros: no saliency) or the path of a mask PNG of the
    image's size. User regions of interest (mask PNGs or arrays, and pixel boxes) are combined with
    it by a pixel-wise maximum: they can only add saliency, never remove the detector's.
    Boxes and masks are checked before the model runs, so bad input fails fast.
    """
    if not isinstance(rgb, np.ndarray) or rgb.ndim != 3:
        raise ValueError("resolve needs an (H, W, 3) image array")
    size_hw = (rgb.shape[0], rgb.shape[1])
    boxes = [check_box(b, size_hw) for b in roi_boxes]
    rois = [_as_mask(m, size_hw) for m in roi_masks]
    spec_s = os.fspath(spec)
    if spec_s == "auto":
        from .u2netp import saliency_map

        prob = saliency_map(rgb)
    elif spec_s == "none":
        prob = np.zeros(size_hw, dtype=np.float32)
    else:
        if not Path(spec_s).exists():
            raise SalicodecError(
                f"--saliency {spec_s!r}: expected auto, none or the path of a mask PNG (no such file)"
            )
        prob = load_mask(spec_s, size_hw)
    prob = np.array(prob, dtype=np.float32, copy=True)
    for roi in rois:
        np.maximum(prob, roi, out=prob)
    for x0, y0, x1, y1 in boxes:
        prob[y0:y1, x0:x1] = 1.0
    return prob
