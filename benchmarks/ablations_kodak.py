"""Ablations of the paper's claims on Kodak, at matched rate (issue #5).

    python benchmarks/ablations_kodak.py --full NAME=CKPT ... --variant NAME=CKPT[:nosal] ...
                                         [--images N] [--json out.json] [--csv per_image.csv]

Every model is run through its own forward pass with hard quantisation (the reconstruction the
decoder gives bit for bit, benchmarks/codec_kodak.py) and its rate is the masked cross-entropy of
Eq. 12 (nothing for masked symbols) plus the coded channel counts: the ideal code length, which
the real files' payload matches within 0.1% (docs/BENCHMARKS.md, "Codec"; the container header
adds about 40 bytes, which this leaves out). That lets us say where the bits go: the y-bits of each /8 cell
are split by the binary saliency grid the encoder uses (grid_mask of U²-Net-p's map).

`--full` names the checkpoints of the complete model at several rates (the family); each metric
of the full model is interpolated along that curve (piecewise linear in log bpp) at the rate a
variant reached, so a variant is compared with the full model at the variant's own bpp.
A `:nosal` suffix runs a checkpoint without the saliency input (s = 0 at coding time).
`--reuse OLD.json` (repeatable) takes the models of an earlier run (same name, checkpoint, saliency flag and
image count) from its file instead of measuring them again, so variants can be added as their
training runs finish.
"""
from __future__ import annotations

import argparse
import csv
import json
import time

import numpy as np
import torch

from salicodec import api, entropy
from salicodec.evaluation.bdrate import quality_at_rate
from salicodec.imageio import load_rgb, shared_dir
from salicodec.metrics import LPIPS, msssim_rgb, psnr_rgb, psnr_salient
from salicodec.models.codec import STAGE1_FACTOR, CodecConfig, SaliCodec
from salicodec.models.zoo import read_weights
from salicodec.saliency import saliency_map

METRICS = ("bpp", "psnr", "ms_ssim", "lpips", "psnr_s", "salient_bit_share", "salient_bpp", "background_bpp")


def load_checkpoint(path: str) -> SaliCodec:
    """A training checkpoint or a zoo file, rounded through fp16 as the shipped models are."""
    ck = read_weights(path)  # a zoo delta file comes back complete
    model = SaliCodec(CodecConfig.from_dict(ck["config"]["codec"] if "codec" in ck["config"] else ck["config"]))
    model.load_state_dict({k: v.half().float() if v.is_floating_point() else v for k, v in ck["state_dict"].items()})
    return model.eval()


def parse_spec(spec: str) -> tuple[str, str, bool]:
    name, _, rest = spec.partition("=")
    if not rest:
        raise SystemExit(f"expected NAME=CHECKPOINT, got {spec!r}")
    use_saliency = not rest.endswith(":nosal")
    return name, rest.removesuffix(":nosal"), use_saliency


@torch.no_grad()
def measure(model: SaliCodec, rgb: np.ndarray, prob: np.ndarray, use_saliency: bool, lpips_fn) -> dict:
    h, w = rgb.shape[:2]
    x = api.pad_to_multiple(rgb)
    grid = (x.shape[2] // STAGE1_FACTOR, x.shape[3] // STAGE1_FACTOR)
    s = api.saliency_tensor(prob, rgb, grid)  # the encoder's binary /8 grid
    out = model(x, s if use_saliency else None, bit_maps=True)
    # The channel counts k1 (and k2) are side information in the file (docs/FORMAT.md): coded here
    # exactly as the encoder codes them, so that the rate is the file's, not only the latents'.
    a = model._analysis(x, s if use_saliency else None)
    side_bits = sum(entropy.encode_count_map(a[k][0].numpy(), model.cfg.channels)[1]
                    for k in ("k1", "k2") if k in a)
    rec = api.to_uint8(out["x_hat"], h, w)
    bits_y = out["bit_map_y"][0]
    bits_z = float(out["bits_z"][0])
    salient = s[0, 0] > 0
    # Pixels per cell inside the image (the padding holds no pixels; its cells are background).
    ys, xs = torch.arange(grid[0]), torch.arange(grid[1])
    cell_px = (torch.clamp(h - 8 * ys, 0, 8)[:, None] * torch.clamp(w - 8 * xs, 0, 8)[None, :]).float()
    sal_bits = float(bits_y[salient].sum())
    sal_px = float(cell_px[salient].sum())
    bg_px = float(cell_px[~salient].sum())
    total = float(bits_y.sum()) + bits_z + side_bits
    return {
        "bpp": total / (h * w),
        "psnr": psnr_rgb(rgb, rec),
        "ms_ssim": msssim_rgb(rgb, rec),
        "lpips": lpips_fn(rgb, rec),
        "psnr_s": psnr_salient(rgb, rec, prob),
        "salient_bit_share": sal_bits / max(float(bits_y.sum()), 1e-9),
        "salient_bpp": sal_bits / sal_px if sal_px else float("nan"),
        "background_bpp": (float(bits_y.sum()) - sal_bits) / bg_px if bg_px else float("nan"),
        "salient_fraction": sal_px / (h * w),
    }


def interpolate(curve: list[dict], bpp: float, key: str) -> float | None:
    """Metric of the full model at `bpp` (linear in log bpp); None outside the family's range."""
    value, inside = quality_at_rate([c["bpp"] for c in curve], [c[key] for c in curve], bpp)
    return value if inside else None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--full", action="append", default=[], metavar="NAME=CKPT")
    ap.add_argument("--variant", action="append", default=[], metavar="NAME=CKPT[:nosal]")
    ap.add_argument("--images", type=int, default=24)
    ap.add_argument("--json")
    ap.add_argument("--csv")
    ap.add_argument("--reuse", action="append", default=[], metavar="OLD.json",
                    help="an earlier --json output whose models are not measured again (repeatable)")
    a = ap.parse_args()
    files = sorted((shared_dir() / "data" / "kodak").glob("*.png"))[: a.images]
    old = {}
    for reuse in a.reuse:
        with open(reuse) as fh:
            prev = json.load(fh)
        if prev.get("images") == len(files):
            old |= {name: (v, [r for r in prev.get("per_image", []) if r["model"] == name], reuse)
                    for name, v in prev["models"].items()}
    lpips_fn = LPIPS("vgg")
    images = []
    for f in files:
        rgb = load_rgb(f)
        images.append((f.name, rgb, np.asarray(saliency_map(rgb), dtype=np.float32)))
    rows, summary = [], {}
    for role, specs in (("full", a.full), ("variant", a.variant)):
        for spec in specs:
            name, path, use_sal = parse_spec(spec)
            if name in old and old[name][0]["checkpoint"] == path and old[name][0]["saliency_input"] == use_sal \
                    and old[name][1]:
                v, per_rows, source = old[name]
                summary[name] = {k: v[k] for k in ("checkpoint", "saliency_input", *METRICS)} | {"role": role}
                rows += per_rows
                print(f"{name}: reused from {source}", flush=True)
                continue
            model = load_checkpoint(path)
            t0 = time.time()
            per = []
            for fname, rgb, prob in images:
                r = measure(model, rgb, prob, use_sal, lpips_fn)
                per.append(r)
                rows.append({"model": name, "image": fname, **r})
            mean = {k: float(np.nanmean([r[k] for r in per])) for k in METRICS}
            summary[name] = {"role": role, "checkpoint": path, "saliency_input": use_sal, **mean}
            print(f"{name}: " + " ".join(f"{k} {v:.4f}" for k, v in mean.items()) + f" ({time.time() - t0:.0f} s)",
                  flush=True)
    curve = [v for v in summary.values() if v["role"] == "full"]
    for name, v in summary.items():
        if v["role"] != "variant" or len(curve) < 2:
            continue
        v["full_model_at_same_bpp"] = {k: interpolate(curve, v["bpp"], k) for k in METRICS if k != "bpp"}
    print(json.dumps(summary, indent=1))
    if a.json:
        with open(a.json, "w") as fh:
            json.dump({"images": len(images), "models": summary, "per_image": rows}, fh, indent=1)
    if a.csv:
        with open(a.csv, "w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)


if __name__ == "__main__":
    main()
