"""Pictures for a person to check a saliency mask: an overlay, and a contact sheet of overlays.

Overlay: the probability tints the image red; cells outside the binary grid mask (what the codec
treats as background) are dimmed, and the grid mask's outline is drawn in yellow.
"""
from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from .masks import GRID_FACTOR, upsample_grid

TINT = np.array([255, 32, 32], dtype=np.float32)
OUTLINE = np.array([255, 230, 0], dtype=np.uint8)


def overlay(rgb: np.ndarray, prob: np.ndarray, cells: np.ndarray, factor: int = GRID_FACTOR) -> Image.Image:
    h, w = rgb.shape[:2]
    inside = upsample_grid(cells, h, w, factor)
    img = rgb.astype(np.float32)
    alpha = 0.5 * np.clip(prob, 0.0, 1.0)[..., None]
    img = img * (1.0 - alpha) + TINT * alpha
    img = np.where(inside[..., None], img, img * 0.4)
    out = np.clip(np.round(img), 0, 255).astype(np.uint8)
    # Outline: inside pixels with an outside 4-neighbour, thickened to 2 px so it survives thumbnails.
    edge = np.zeros_like(inside)
    edge[1:, :] |= inside[1:, :] != inside[:-1, :]
    edge[:-1, :] |= inside[1:, :] != inside[:-1, :]
    edge[:, 1:] |= inside[:, 1:] != inside[:, :-1]
    edge[:, :-1] |= inside[:, 1:] != inside[:, :-1]
    out[edge] = OUTLINE
    return Image.fromarray(out)


def contact_sheet(tiles: list[tuple[str, Image.Image]], columns: int = 6, tile_height: int = 192) -> Image.Image:
    """A grid of thumbnails of one height (portrait ones narrower), a caption under each."""
    caption_h = 16
    thumbs = []
    for name, img in tiles:
        scale = tile_height / img.height
        thumbs.append((name, img.resize((round(img.width * scale), tile_height), Image.LANCZOS)))
    cell_w = max(t.width for _, t in thumbs)
    cell_h = tile_height + caption_h
    rows = -(-len(thumbs) // columns)
    sheet = Image.new("RGB", (columns * (cell_w + 4) + 4, rows * (cell_h + 4) + 4), (32, 32, 32))
    draw = ImageDraw.Draw(sheet)
    for i, (name, t) in enumerate(thumbs):
        x = 4 + (i % columns) * (cell_w + 4)
        y = 4 + (i // columns) * (cell_h + 4)
        sheet.paste(t, (x + (cell_w - t.width) // 2, y))
        draw.text((x + 2, y + tile_height + 2), name, fill=(235, 235, 235))
    return sheet
