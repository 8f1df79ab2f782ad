"""The encoder's analyses of a folder of images, to be coded elsewhere (salicodec/evaluation/analyses.py).

    python benchmarks/analyse_images.py IMAGES --models NAME [NAME ...] --refine 100 [--dpl] --out DIR
        [--device cuda] [--resume DIR] [--minutes M] [--saliency-cache DIR]

Made for the lent GPU machine, which has no range coder (docs/TRAINING.md, "The DPL search on
Kodak"): for each model and image, saliency (the mask cached by `salicodec saliency --batch` in
--saliency-cache, else the salient-object model), E1, the channel counts and the latent search
run on --device; the chosen symbols go to DIR/<model>.npz, rewritten after every image, so a
command stopped at its time limit leaves every finished image behind. --resume DIR (an earlier
DIR) skips the images its sets already hold; --minutes stops starting new images after M minutes.
Then, on a machine with the range coder:

    salicodec eval IMAGES --codecs ours-refine100dpl --analyses DIR --out out/kodak_refine100dpl
"""
from __future__ import annotations

import argparse
import copy
import time
from pathlib import Path

import torch

from salicodec.evaluation.analyses import AnalysisSet, analyse_image, image_key, set_path
from salicodec.evaluation.runner import list_images
from salicodec.imageio import load_rgb
from salicodec.models import zoo
from salicodec.training.data import load_or_compute_saliency


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("images", type=Path, help="folder of images (e.g. ../shared/data/kodak)")
    ap.add_argument("--models", nargs="+", required=True, help="shipped model names, in the order to run")
    ap.add_argument("--refine", type=int, required=True, help="steps of the latent search")
    ap.add_argument("--dpl", action="store_true", help="the search's D is MSE + DPL (compress(refine_dpl=True))")
    ap.add_argument("--out", type=Path, required=True, help="folder for the analysis sets (<model>.npz)")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--resume", type=Path, default=None, help="an earlier --out: its images are skipped")
    ap.add_argument("--minutes", type=float, default=None, help="start no new image after this many minutes")
    ap.add_argument("--saliency-cache", type=Path, default=None,
                    help="masks of `salicodec saliency --batch IMAGES --out DIR` (default: compute them)")
    ap.add_argument("--limit", type=int, default=None, help="only the first N images")
    a = ap.parse_args()
    if a.refine < 1:
        ap.error("--refine must be at least 1")
    a.out.mkdir(parents=True, exist_ok=True)
    device = torch.device(a.device)
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    images = list_images(a.images, a.limit)
    perceptual = None
    if a.dpl:
        from salicodec.metrics.lpips import DeepPerceptualLoss

        perceptual = DeepPerceptualLoss().to(device).eval()
    rgbs = {p: load_rgb(p) for p in images}  # Kodak is 28 MB of pixels: read once for every model
    saliency = {p: load_or_compute_saliency(p, rgbs[p], a.saliency_cache) for p in images}
    keys = {p: image_key(rgbs[p]) for p in images}
    t_start = time.monotonic()
    for name in a.models:
        net = copy.deepcopy(zoo.load_model(name)).to(device).eval()
        aset = None
        if a.resume is not None and set_path(a.resume, name).is_file():
            aset = AnalysisSet.load(set_path(a.resume, name))
        if aset is None or aset.meta["refine"] != a.refine or aset.meta["refine_dpl"] != a.dpl:
            aset = AnalysisSet.new(name, net.weights_hash(), a.refine, a.dpl, where)
        for path in images:
            if a.minutes is not None and time.monotonic() - t_start > 60 * a.minutes:
                print(f"stopped after {a.minutes} minutes", flush=True)
                return
            if keys[path] in aset.entries:
                continue
            y_idx, k1, info = analyse_image(net, rgbs[path], saliency[path], a.refine, perceptual, device)
            info["name"] = path.name
            aset.add(keys[path], y_idx, k1, info)
            aset.save(set_path(a.out, name))
            gain = ""
            if "distortion_before" in info:
                gain = (f" D {info['distortion_before']:.6f} -> {info['distortion_after']:.6f},"
                        f" bits {info['bits_before']:.0f} -> {info['bits_after']:.0f}")
            print(f"{name} {path.name}: {info['seconds']:.2f} s{gain}", flush=True)
        aset.save(set_path(a.out, name))  # also when every image was resumed


if __name__ == "__main__":
    main()
