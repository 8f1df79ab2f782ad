"""Synthetic 2AFC recovery: can the LPIPS-Comp trainer learn a hidden channel weighting?

No compression 2AFC set with images is obtainable here, so the "people" are simulated: a hidden
non-negative weighting w* of the VGG-16 channels defines the true distance d* = Σ w*·D; each
triplet (ref, p0, p1) gets `--votes` simulated votes, each preferring p1 with probability
sigmoid((d*0 − d*1) / τ). The trainer sees only the images and the vote fractions h. Reported on
held-out triplets: the 2AFC score of the learned weights, of the oracle w*, of LPIPS's official
weights, of the unweighted baseline (w = 1), of PSNR, and of a random person ("human").

    PYTHONPATH=. python benchmarks/twoafc_synthetic.py [--n 2000] [--features CACHE.pt]
"""
from __future__ import annotations

import argparse
import io
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageFilter

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from salicodec.imageio import load_rgb, shared_dir  # noqa: E402
from salicodec.metrics.lpips import DeepPerceptualLoss, load_lin_weights  # noqa: E402
from salicodec.metrics.twoafc import TrainConfig, human_2afc, pair_features, score_2afc, train_lin_weights  # noqa: E402


def distort(a: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One random distortion of a uint8 crop: JPEG, blur, noise, resampling or a colour shift."""
    kind = rng.integers(5)
    img = Image.fromarray(a)
    if kind == 0:
        buf = io.BytesIO()
        img.save(buf, "JPEG", quality=int(rng.integers(5, 60)))
        return np.asarray(Image.open(buf).convert("RGB"))
    if kind == 1:
        return np.asarray(img.filter(ImageFilter.GaussianBlur(float(rng.uniform(0.5, 2.5)))))
    if kind == 2:
        noisy = a.astype(np.float64) + rng.normal(0, rng.uniform(3, 25), a.shape)
        return np.clip(np.round(noisy), 0, 255).astype(np.uint8)
    if kind == 3:
        f = float(rng.uniform(1.5, 4))
        small = img.resize((max(4, int(a.shape[1] / f)), max(4, int(a.shape[0] / f))), Image.BILINEAR)
        return np.asarray(small.resize((a.shape[1], a.shape[0]), Image.BICUBIC))
    shift = rng.normal(0, 12, 3)
    return np.clip(np.round(a.astype(np.float64) + shift), 0, 255).astype(np.uint8)


def crops(n: int, size: int, rng: np.random.Generator) -> list[np.ndarray]:
    root = shared_dir() / "data"
    files = sorted((root / "kodak").glob("*.png")) + sorted((root / "train" / "photos").glob("*.jpg"))[:60]
    if not files:
        sys.exit(f"no images under {root}: set SALICODEC_SHARED")
    images = [load_rgb(f) for f in files]
    out = []
    for _ in range(n):
        a = images[rng.integers(len(images))]
        y, x = rng.integers(a.shape[0] - size), rng.integers(a.shape[1] - size)
        out.append(np.ascontiguousarray(a[y : y + size, x : x + size]))
    return out


def unit(batch: list[np.ndarray]) -> torch.Tensor:
    return torch.from_numpy(np.stack(batch)).permute(0, 3, 1, 2).float() / 255.0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=2000, help="triplets (half for training)")
    ap.add_argument("--crop", type=int, default=64)
    ap.add_argument("--votes", type=int, default=5)
    ap.add_argument("--density", type=float, default=0.03, help="fraction of channels the oracle uses")
    ap.add_argument("--epochs", type=int, default=200)
    ap.add_argument("--lr", type=float, default=1e-2)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--sigma", type=float, default=2.0, help="log-normal spread of the oracle weights")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--features", type=Path, help="cache of the VGG features (.pt): reused when it exists")
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    torch.manual_seed(args.seed)

    t0 = time.time()
    refs = crops(args.n, args.crop, rng)
    p0 = [distort(a, rng) for a in refs]
    p1 = [distort(a, rng) for a in refs]
    if args.features and args.features.is_file():
        D0, D1 = torch.load(args.features, weights_only=True)
    else:
        dpl = DeepPerceptualLoss("vgg", lin_weights=None)
        D0, D1 = [], []
        for s in range(0, args.n, 32):
            r = dpl.features(unit(refs[s : s + 32]))  # the reference's taps once for both pairs
            for out, p in ((D0, p0), (D1, p1)):
                out.append(pair_features(dpl, None, unit(p[s : s + 32]), ref_feats=r))
        D0, D1 = torch.cat(D0), torch.cat(D1)
        if args.features:
            torch.save((D0, D1), args.features)
    t_feat = time.time() - t0

    # The hidden "human" weighting: a sparse, log-normal choice of channels.
    C = D0.shape[1]
    oracle = torch.from_numpy((rng.random(C) < args.density) * rng.lognormal(0.0, args.sigma, C))
    margin = (D0 - D1) @ oracle
    tau = 0.1 * float(margin.std())
    p_prefer_p1 = torch.sigmoid(margin / tau).numpy()
    h = rng.binomial(args.votes, p_prefer_p1) / args.votes

    n_train = args.n // 2
    tr, te = slice(0, n_train), slice(n_train, args.n)
    t1 = time.time()
    w = train_lin_weights(D0[tr], D1[tr], torch.from_numpy(h[tr]), TrainConfig(epochs=args.epochs, lr=args.lr, batch_size=args.batch, seed=args.seed))
    t_train = time.time() - t1

    def score(weights: torch.Tensor, part: slice) -> float:
        return score_2afc(D0[part] @ weights.double(), D1[part] @ weights.double(), h[part])

    official = torch.cat(load_lin_weights("lpips-vgg")).double()
    psnr = []
    for a, b, c in zip(refs, p0, p1):
        e0 = np.mean((a.astype(float) - b) ** 2)
        e1 = np.mean((a.astype(float) - c) ** 2)
        psnr.append((e0, e1))
    psnr = np.array(psnr)
    rows = [
        ("learned (trainer)", score(w, tr), score(w, te)),
        ("oracle w*", score(oracle, tr), score(oracle, te)),
        ("LPIPS v0.1 official weights", score(official, tr), score(official, te)),
        ("unweighted VGG (w = 1)", score(torch.ones(C), tr), score(torch.ones(C), te)),
        ("PSNR", score_2afc(psnr[tr, 0], psnr[tr, 1], h[tr]), score_2afc(psnr[te, 0], psnr[te, 1], h[te])),
        ("human (random voter)", human_2afc(h[tr]), human_2afc(h[te])),
    ]
    print(f"training: {args.epochs} epochs, lr {args.lr}, batch {args.batch}")
    print(f"synthetic 2AFC: {args.n} triplets of {args.crop}x{args.crop} crops ({n_train} train / {args.n - n_train} held out), "
          f"{args.votes} simulated votes each, oracle uses {int((oracle > 0).sum())}/{C} channels; "
          f"features {t_feat:.0f} s, training {t_train:.0f} s")
    print("| weights | 2AFC train | 2AFC held-out |")
    print("|---|---|---|")
    for name, a, b in rows:
        print(f"| {name} | {a:.4f} | {b:.4f} |")
    ratio = rows[0][2] / rows[1][2]
    print(f"learned / oracle on held-out triplets: {ratio:.4f} ({'PASS' if ratio >= 0.95 else 'FAIL'}: needs >= 0.95)")
    cos = float(torch.nn.functional.cosine_similarity(w.double(), oracle, dim=0))
    print(f"cosine similarity of learned and oracle weights: {cos:.3f}")


if __name__ == "__main__":
    main()
