"""Where a model's rate goes when it codes Kodak in tiles of the training crop's size or larger.

    python benchmarks/rate_by_tile.py CHECKPOINT [CHECKPOINT ...] [--tiles 128,256,512]

Each Kodak image (turned to 512 × 768 where it is portrait) is cut into whole square tiles of
each size (128: 24 tiles, 256: 6, 512: one, the remaining 512 × 256 dropped) and every tile is
coded on its own through the forward pass without saliency (hard quantisation, the rate
of Eq. 12 without the channel counts). Prints the bpp of y~ and of z~ over all tiles.

Why: the models train on 128 × 128 crops, where z~ is a 4 × 4 grid and the context model of y~
sees at most 16 × 16 cells; a whole Kodak image gives it 96 × 64. Comparing tile sizes shows
whether a prior (the second stage, or the context model alone) pays on the crops it learned on
and not on whole images, or the other way round (docs/BENCHMARKS.md, "Hierarchical vs
single-level from a GPU-trained model").
"""
from __future__ import annotations

import argparse
import json
import os

import torch

from ablations_kodak import load_checkpoint
from salicodec import api
from salicodec.imageio import load_rgb, shared_dir


def tiles_of(x: torch.Tensor, size: int) -> torch.Tensor:
    """(1, 3, H, W) -> (n, 3, size, size): the whole tiles, row by row; the remainder is dropped."""
    t = x.unfold(2, size, size).unfold(3, size, size)  # 1, 3, nh, nw, size, size
    return t.permute(0, 2, 3, 1, 4, 5).reshape(-1, 3, size, size)


@torch.no_grad()
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checkpoints", nargs="+")
    ap.add_argument("--tiles", default="128,256,512", help="tile sizes, multiples of 32 (default: 128,256,512)")
    ap.add_argument("--images", type=int, default=24)
    a = ap.parse_args()
    sizes = [int(s) for s in a.tiles.split(",")]
    if any(s % 32 or s <= 0 or s > 512 for s in sizes):
        raise SystemExit("--tiles: sizes must be positive multiples of 32, at most 512")
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    images = []
    for f in sorted((shared_dir() / "data" / "kodak").glob("*.png"))[: a.images]:
        x = api.pad_to_multiple(load_rgb(f))  # Kodak is 768 × 512: nothing to pad
        images.append(x if x.shape[2] <= x.shape[3] else x.transpose(2, 3))
    for path in a.checkpoints:
        model = load_checkpoint(path)
        for size in sizes:
            bits_y = bits_z = pixels = 0.0
            for x in images:
                t = tiles_of(x, size)
                out = model(t, None, reconstruct=False)
                bits_y += float(out["bits_y"].sum())
                bits_z += float(out["bits_z"].sum())
                pixels += t.shape[0] * size * size
            print(json.dumps({"checkpoint": path, "hierarchical": model.cfg.hierarchical, "tile": size,
                              "bpp_y": round(bits_y / pixels, 4), "bpp_z": round(bits_z / pixels, 4)}), flush=True)


if __name__ == "__main__":
    main()
