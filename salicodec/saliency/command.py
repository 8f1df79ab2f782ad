"""`salicodec saliency`: one image (mask, overlay, grid) or a folder for training (batch.py)."""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

from ..errors import SalicodecError
from ..imageio import atomic_write_bytes, load_rgb, save_image
from .args import saliency_from_args
from .batch import encode_mask_png, precompute_masks
from .masks import DEFAULT_DILATE, DEFAULT_THRESHOLD, grid_mask, salient_fraction
from .pictures import overlay


def _grid_options(args) -> tuple[float, int]:
    threshold = DEFAULT_THRESHOLD if args.threshold is None else args.threshold
    dilate = DEFAULT_DILATE if args.dilate is None else args.dilate
    if not 0.0 <= threshold <= 1.0:
        raise SalicodecError(f"--threshold {threshold}: must be between 0 and 1")
    if dilate < 0:
        raise SalicodecError(f"--dilate {dilate}: must be 0 or more")
    return threshold, dilate


def _check_writable(path: str, force: bool) -> None:
    """Refuse before any work, so that a bad second output never leaves the first one alone."""
    p = Path(path)
    if p.is_dir():
        raise SalicodecError(f"{p}: is a directory")
    if p.exists() and not force:
        raise SalicodecError(f"{p}: exists (use --force to overwrite)")
    if not (p.parent if str(p.parent) else Path(".")).is_dir():
        raise SalicodecError(f"{p.parent}: no such directory")
    if p.suffix.lower() != ".png":
        raise SalicodecError(f"{p}: saliency outputs are PNG files (use .png)")


def run_single(args) -> int:
    if args.input is None or args.out is None:
        raise SalicodecError("saliency: give an image and -o MASK.png (or --batch DIR --out DIR)")
    threshold, dilate = _grid_options(args)
    outputs = [p for p in (args.out, args.overlay, args.grid) if p is not None]
    if len(set(outputs)) != len(outputs):
        raise SalicodecError("saliency: -o, --overlay and --grid must be different files")
    for p in outputs:  # refuse before the model runs, and before any output is written
        _check_writable(p, args.force)
    rgb = load_rgb(args.input)
    prob = saliency_from_args(args, rgb)
    cells = grid_mask(prob, threshold=threshold, dilate=dilate)
    atomic_write_bytes(args.out, encode_mask_png(prob), force=args.force)
    if args.grid is not None:
        buf = io.BytesIO()
        Image.fromarray((cells * 255).astype(np.uint8)).save(buf, format="PNG")
        atomic_write_bytes(args.grid, buf.getvalue(), force=args.force)
    if args.overlay is not None:
        save_image(overlay(rgb, prob, cells), args.overlay, force=args.force)
    print(
        f"{args.out}: {rgb.shape[1]}x{rgb.shape[0]}, salient fraction {100 * salient_fraction(cells):.1f}% "
        f"of the {cells.shape[1]}x{cells.shape[0]} grid (threshold {threshold}, dilate {dilate})"
    )
    return 0


def run_batch(args) -> int:
    if args.input is not None:
        raise SalicodecError("saliency: give either an image or --batch DIR, not both")
    if args.out is None:
        raise SalicodecError("saliency --batch DIR: --out DIR is required")
    if args.overlay or args.grid or args.saliency != "auto" or args.roi or args.roi_box:
        raise SalicodecError("saliency --batch: --overlay, --grid, --saliency, --roi and --roi-box apply to one image only")
    report = precompute_masks(args.batch, args.out, force=args.force, progress=True)
    print(f"{args.out}: {report.computed} computed, {report.cached} cached, {len(report.failed)} unreadable")
    if report.failed:
        rel, reason = report.failed[0]
        raise SalicodecError(f"{len(report.failed)} image(s) could not be read, first: {reason}")
    return 0
