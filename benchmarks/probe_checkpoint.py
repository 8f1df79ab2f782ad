"""Quick Kodak probe of training checkpoints or shipped models, to choose what to ship.

    python benchmarks/probe_checkpoint.py runs/NAME/last.pt sali-gpu-0.37 [--images 8] [--lpips]

Each argument is a training checkpoint (a path) or a shipped model's name. Checkpoints are
rounded through fp16 first, as `training.export` ships them. The figures come from the forward
pass with hard quantisation (`api.reconstruct`) and the rate the context models predict (Eq. 12,
plus the coded channel counts' ideal bits), not from written files: shipped models' files are
within 0.3 % of that rate (docs/BENCHMARKS.md), and this takes half the time. Saliency: auto.
Use `salicodec eval` / `benchmarks/codec_kodak.py` for the figures that are reported.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from salicodec import api, entropy
from salicodec.imageio import load_rgb, shared_dir
from salicodec.metrics import msssim_rgb, psnr_rgb
from salicodec.models import zoo
from salicodec.models.codec import CodecConfig, SaliCodec


def load(spec: str) -> SaliCodec:
    if not Path(spec).is_file():
        return zoo.load_model(spec)
    ck = torch.load(spec, map_location="cpu", weights_only=True)
    model = SaliCodec(CodecConfig.from_dict(ck["config"]["codec"]))
    model.load_state_dict({k: (v.half().float() if v.is_floating_point() else v) for k, v in ck["state_dict"].items()})
    return model.eval()


def probe(model: SaliCodec, files, lpips_fn) -> dict:
    rows = []
    for f in files:
        rgb = load_rgb(f)
        h, w = rgb.shape[:2]
        sal = api.saliency_map_for(rgb, "auto")
        rec = api.reconstruct(rgb, model, saliency=sal)
        x = api.pad_to_multiple(rgb)
        s = api.saliency_tensor(sal, rgb, (x.shape[2] // 8, x.shape[3] // 8))
        with torch.no_grad():
            out = model(x, s)
            a = model._analysis(x, s)
        bits = float(out["bits_y"] + out["bits_z"])
        for key in ("k1", "k2"):
            if key in a:
                bits += entropy.encode_count_map(a[key][0].numpy(), model.cfg.channels)[1]
        rows.append({"bpp": bits / (h * w), "psnr": psnr_rgb(rgb, rec), "ms_ssim": msssim_rgb(rgb, rec),
                     "lpips": lpips_fn(rgb, rec) if lpips_fn else float("nan")})
    return {k: float(np.mean([r[k] for r in rows])) for k in rows[0]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", nargs="+", help="checkpoint paths or shipped model names")
    ap.add_argument("--images", type=int, default=8)
    ap.add_argument("--lpips", action="store_true")
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    files = sorted((shared_dir() / "data" / "kodak").glob("kodim*.png"))[: a.images]
    lpips_fn = None
    if a.lpips:
        from salicodec.metrics.lpips import LPIPS

        lpips_fn = LPIPS()
    for spec in a.models:
        m = probe(load(spec), files, lpips_fn)
        print(f"{spec}: {len(files)} images, {m['bpp']:.4f} bpp (predicted), "
              f"{m['psnr']:.2f} dB, MS-SSIM {m['ms_ssim']:.4f}, LPIPS {m['lpips']:.4f}", flush=True)


if __name__ == "__main__":
    main()
