"""The encoder's channel-mask knobs on Kodak: lambda1 (saliency weight) and lambda2 (importance
weight) of m1 = lambda1 s + lambda2 i (Sec. 3.4), set at coding time on a shipped model.

    python benchmarks/coding_knobs_kodak.py --model sali-gpu-0.67-v5 --saliency-weight 0,1 \
        --importance-weight 1.15,1.5 [--images 24] [--metrics psnr,ms-ssim,lpips,lpips-alex,psnr-s] \
        [--jsonl out.jsonl]

The channel counts k1 travel in the file, so the decoder needs neither knob: every file written
here is a real .sali file that the ordinary decoder reads (it is decoded with the zoo model;
`salicodec compress --saliency-weight L1 --importance-weight L2` writes the same bytes). One
JSON line per (lambda1, lambda2): Kodak means of bpp and the metrics. The salient-object masks
(U^2-Net-p, 'auto') are computed once per image; PSNR-S uses them whatever lambda1 is.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from salicodec import api
from salicodec.evaluation import metrics as metric_table
from salicodec.imageio import load_rgb, shared_dir
from salicodec.models import zoo


def floats(text: str) -> list[float]:
    return [float(v) for v in text.split(",") if v.strip()]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--saliency-weight", type=floats, default=[1.0], help="lambda1 values, comma list")
    ap.add_argument("--importance-weight", type=floats, default=None,
                    help="lambda2 values, comma list (default: the model's own)")
    ap.add_argument("--images", type=int, default=24, help="the first N Kodak images")
    ap.add_argument("--metrics", default="psnr,ms-ssim,lpips,lpips-alex,psnr-s",
                    help="comma list, or 'none' for the rate alone")
    ap.add_argument("--dataset", type=Path, default=None, help="default: SHARED/data/kodak")
    ap.add_argument("--jsonl", type=Path, help="append the result lines here too")
    a = ap.parse_args()
    dataset = a.dataset or shared_dir() / "data" / "kodak"
    files = sorted(dataset.glob("*.png"))[: a.images]
    if not files:
        raise SystemExit(f"no PNG images in {dataset}")
    names = [] if a.metrics == "none" else [m for m in a.metrics.split(",") if m]
    decoder = zoo.load_model(a.model)
    lambda2s = a.importance_weight or [decoder.cfg.importance_weight]
    images = []
    for f in files:
        rgb = load_rgb(f)
        images.append((f.stem, rgb, api.saliency_map_for(rgb, "auto")))
    for l1 in a.saliency_weight:
        for l2 in lambda2s:
            net, t0, rows = api.with_mask_weights(decoder, l1, l2), time.perf_counter(), []
            for stem, rgb, smap in images:
                data = api.compress(rgb, net, saliency=smap)
                rec = np.asarray(api.decompress(data, decoder).convert("RGB"))
                row = {"image": stem, "bpp": 8 * len(data) / (rgb.shape[0] * rgb.shape[1])}
                if names:
                    row.update(metric_table.compute(rgb, rec, names, saliency=smap))
                rows.append(row)
            line = {"model": a.model, "saliency_weight": l1, "importance_weight": l2, "images": len(rows),
                    **{k: float(np.mean([r[k] for r in rows])) for k in ["bpp", *names]},
                    "seconds": round(time.perf_counter() - t0, 1), "per_image": rows}
            text = json.dumps(line)
            print(json.dumps({k: v for k, v in line.items() if k != "per_image"}), flush=True)
            if a.jsonl:
                with open(a.jsonl, "a") as out:
                    out.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
