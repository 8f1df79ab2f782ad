"""Where a model loses quality: its transform, its quantiser, or its channel mask.

    python benchmarks/transform_ceiling.py MODEL_OR_CHECKPOINT ... [--images 1,5,13,23]

For each model and Kodak image, four reconstructions, all without saliency (s = 0):
  transform   D1(y): the continuous latents, every channel kept, no quantisation
  masked      D1(m ⊙ y): the continuous latents under the coding path's channel mask m, no
              quantisation. A model trained with its masks never gave D1 the masked-off
              channels, so "transform" is not its ceiling; nor is this one quite, since D1 only
              ever saw quantised values (the 0.23 models decode them better than the continuous)
  quantised   D1(Q(y)): every channel kept, hard quantisation; rate = Eq. 12 with no mask
  coded       the coding path (channel mask from the importance map, hard quantisation): what
              the decoder gives for a file written with --saliency none; rate = Eq. 12 + nothing
              for masked symbols (the coded channel counts are left out)
If the first is already far below the codec's target quality, training the entropy model or the
rate will not close the gap; the transform (E1/D1) is what to train (docs/TRAINING.md,
"Decoder-only fine-tunes").
"""
from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np
import torch

from salicodec import api
from salicodec.imageio import load_rgb, shared_dir
from salicodec.metrics import psnr_rgb
from salicodec.models import zoo


def load(spec: str):
    """A shipped model's name, or a checkpoint file (training or zoo), as ablations_kodak loads it."""
    if Path(spec).is_file():
        from ablations_kodak import load_checkpoint  # this folder is on sys.path when run as a script

        return load_checkpoint(spec)
    return zoo.load_model(spec).float().eval()


@torch.no_grad()
def measure(model, rgb: np.ndarray) -> dict:
    """PSNR of each reconstruction as the decoder delivers it (uint8, psnr_rgb)."""
    h, w = rgb.shape[:2]
    x = api.pad_to_multiple(rgb)
    pixels = x.shape[2] * x.shape[3]

    def psnr(x_hat: torch.Tensor) -> float:
        return psnr_rgb(rgb, api.to_uint8(x_hat, h, w))

    all_channels = model(x, None, use_masks=False)  # its x_hat is D1(Q(y)) with every channel
    coded = model(x, None)
    y = model.e1(x)[:, : model.cfg.channels]
    return {
        "transform_psnr": psnr(model.d1(y)),
        "masked_transform_psnr": psnr(model.d1(y * coded["mask_y"])),
        "quantised_psnr": psnr(all_channels["x_hat"]),
        "quantised_bpp": float(all_channels["bits_y"].sum() + all_channels["bits_z"].sum()) / pixels,
        "coded_psnr": psnr(coded["x_hat"]),
        "coded_bpp": float(coded["bits_y"].sum() + coded["bits_z"].sum()) / pixels,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("models", nargs="+", help="shipped model names or checkpoint files")
    ap.add_argument("--images", default="1,5,13,23", help="Kodak image numbers (default: 1,5,13,23)")
    ap.add_argument("--kodak", type=Path, default=None, help="default: SHARED/data/kodak")
    a = ap.parse_args()
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    kodak = a.kodak or shared_dir() / "data" / "kodak"
    numbers = [int(n) for n in a.images.split(",")]
    print("| model | images | transform PSNR dB | masked transform PSNR dB | quantised PSNR dB | quantised bpp "
          "| coded PSNR dB (s = 0) | coded bpp |")
    print("|---|---|---|---|---|---|---|---|")
    for spec in a.models:
        model = load(spec)
        rows = []
        for n in numbers:
            rows.append(measure(model, load_rgb(kodak / f"kodim{n:02d}.png")))
        m = {k: float(np.mean([r[k] for r in rows])) for k in rows[0]}
        print(f"| {spec} | {len(numbers)} | {m['transform_psnr']:.2f} | {m['masked_transform_psnr']:.2f} | "
              f"{m['quantised_psnr']:.2f} | "
              f"{m['quantised_bpp']:.3f} | {m['coded_psnr']:.2f} | {m['coded_bpp']:.3f} |", flush=True)


if __name__ == "__main__":
    main()
