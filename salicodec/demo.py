"""`make demo`: the bundled image through the default model, with what a person wants to see."""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from PIL import Image

from .api import compress, decompress
from .imageio import load_image
from .metrics import msssim_rgb, psnr_rgb
from .models.zoo import default_model

BUNDLED = Path(__file__).resolve().parent / "data" / "astronaut.png"


def run_demo(out_dir: str, image: str | None = None) -> None:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    src = Path(image) if image else BUNDLED
    img = load_image(src)
    h, w = img.rgb.shape[:2]
    model = default_model()
    t0 = time.perf_counter()
    data = compress(img, model.name, saliency="auto")
    t1 = time.perf_counter()
    rec = decompress(data)
    t2 = time.perf_counter()
    (out / "image.sali").write_bytes(data)
    rec.save(out / "reconstruction.png")
    side = Image.new("RGB", (2 * w, h))
    side.paste(Image.fromarray(img.rgb), (0, 0))
    side.paste(rec.convert("RGB"), (w, 0))
    side.save(out / "side_by_side.png")
    r = np.asarray(rec.convert("RGB"))
    print(f"image:     {src.name} ({w}x{h})")
    print(f"model:     {model.name} (target {model.target_bpp} bpp)")
    print(f"bytes:     {len(data)}")
    print(f"bpp:       {8 * len(data) / (w * h):.4f}")
    print(f"PSNR:      {psnr_rgb(img.rgb, r):.2f} dB")
    if min(h, w) > 160:
        print(f"MS-SSIM:   {msssim_rgb(img.rgb, r):.4f}")
    print(f"encode:    {t1 - t0:.2f} s, decode: {t2 - t1:.2f} s")
    print(f"wrote:     {out / 'image.sali'}, {out / 'reconstruction.png'}, {out / 'side_by_side.png'}")
