"""The saliency options shared by `salicodec compress`, `salicodec jpeg` and `salicodec saliency`.

Light on purpose (no numpy or PIL at import): the CLI builds its parser from this on every call.
"""
from __future__ import annotations

import argparse


def add_saliency_args(parser: argparse.ArgumentParser) -> None:
    """--saliency {auto,none,MASK.png}, --roi MASK.png (repeatable), --roi-box x0,y0,x1,y1 (repeatable)."""
    g = parser.add_argument_group("saliency (Patel et al. Sec. 3.4: more bits where people look)")
    g.add_argument(
        "--saliency",
        default="auto",
        metavar="{auto,none,MASK.png}",
        help="auto: U^2-Net-p salient-object detector (default); none: no saliency; "
        "or a greyscale mask PNG of the image's size (white = salient)",
    )
    g.add_argument(
        "--roi",
        action="append",
        default=[],
        metavar="MASK.png",
        help="a region of interest as a greyscale mask PNG of the image's size, added to the "
        "saliency (pixel-wise maximum); repeatable",
    )
    g.add_argument(
        "--roi-box",
        action="append",
        default=[],
        metavar="x0,y0,x1,y1",
        help="a region of interest as a pixel box (x1, y1 exclusive) made fully salient; repeatable",
    )


def saliency_from_args(args: argparse.Namespace, rgb):
    """The (H, W) float32 saliency probability in [0, 1] that the parsed options ask for."""
    from .masks import parse_box, resolve

    boxes = [parse_box(b) for b in (getattr(args, "roi_box", None) or [])]
    return resolve(getattr(args, "saliency", "auto"), rgb, getattr(args, "roi", None) or [], boxes)
