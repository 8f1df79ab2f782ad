"""Single metrics and RANSAC metric combinations (supplement Eq. 1–4) against real human data.

Two human studies in shared/data/perceptual (scores only, no images):
- JPEG AIC-3: 300 crops (5 sources x 6 codecs x 10 levels) with a human distortion in JND units.
  Turned into same-source 2AFC pairs: for versions i, j of one source the fraction of people
  preferring j is modelled as Phi(z_0.75 * (D_i - D_j)) (Thurstone case V with 1 JND = 75 %
  preference, z_0.75 = 0.6745). 8,850 pairs. Held out: leave one source out (5 folds).
- Chen et al. (arXiv 2204.12022) Kodak 2AFC: 144 pairs of learned-codec reconstructions, 47 real
  votes each; h = votes for "ours" / 47. Held out: 6 folds of 3 Kodak images.

For each metric alone: its 2AFC score on all pairs (no fitting). For each combination: RANSAC fit
on the training folds, 2AFC score on the held-out fold, pooled over folds. "best pair (selected
on train)": in each fold the pair with the highest training score, scored on the held-out fold.

    PYTHONPATH=. python benchmarks/metric_combination.py
"""
from __future__ import annotations

import csv
import itertools
import math
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from salicodec.imageio import shared_dir  # noqa: E402
from salicodec.metrics.combine import RansacConfig, fit_ransac  # noqa: E402
from salicodec.metrics.twoafc import human_2afc, score_2afc  # noqa: E402

Z75 = 0.6744897501960817
AIC_METRICS = ["PSNR-Y", "SSIM", "MS-SSIM", "IW-SSIM", "VMAF-neg", "SSIMULACRA2", "HDR-VDP-2 Q", "HDR-VDP-3 Q", "CVVDP"]


def phi(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.vectorize(math.erf)(x / math.sqrt(2.0)))


def load_aic(folder: Path):
    rows = list(csv.DictReader(open(folder / "JPEG-AIC_metric_scores.csv", newline="")))
    by_source: dict[str, list[dict]] = {}
    for r in rows:
        by_source.setdefault(r["img_num"], []).append(r)
    m0, m1, h, group = [], [], [], []
    for src, items in sorted(by_source.items()):
        for a, b in itertools.combinations(items, 2):
            m0.append([float(a[k]) for k in AIC_METRICS])
            m1.append([float(b[k]) for k in AIC_METRICS])
            h.append(float(phi(np.array(Z75 * (float(a["distortion"]) - float(b["distortion"]))))))
            group.append(src)
    return AIC_METRICS, np.array(m0), np.array(m1), np.array(h), np.array(group), len(by_source)


def load_kodak(folder: Path):
    rows = list(csv.DictReader(open(folder / "resizecompression_study_results.csv", newline="")))
    names = ["PSNR-Y", "VMAF", "VIF-pixel"]
    cols = [("psnry_base", "psnry_ours"), ("vmaf_base", "vmaf_ours"), ("vifp_base", "vifp_ours")]
    m0 = np.array([[float(r[c0]) for c0, _ in cols] for r in rows])
    m1 = np.array([[float(r[c1]) for _, c1 in cols] for r in rows])
    votes0 = np.array([float(r["num_vote_base"]) for r in rows])
    votes1 = np.array([float(r["num_vote_ours"]) for r in rows])
    images = sorted({r["image"] for r in rows})
    fold_of = {im: i // 3 for i, im in enumerate(images)}  # 6 folds of 3 images
    group = np.array([fold_of[r["image"]] for r in rows])
    return names, m0, m1, votes1 / (votes0 + votes1), group, int(votes0[0] + votes1[0])


def evaluate(names, m0, m1, h, group, config: RansacConfig):
    """Rows (label, held-out 2AFC) for single metrics, all pairs, the best pair and all metrics."""
    k = len(names)
    out = [("human (random person vs the panel)", human_2afc(h))]
    for i, n in enumerate(names):
        out.append((n, score_2afc(m0[:, i], m1[:, i], h, higher_is_better=True)))
    subsets = [list(c) for c in itertools.combinations(range(k), 2)] + [list(range(k))]
    folds = sorted(set(group.tolist()))
    pooled = {tuple(s): np.zeros(len(h)) for s in subsets}
    best_pair = np.zeros(len(h))
    chosen = []
    for f in folds:
        te = group == f
        tr = ~te
        train_scores = {}
        for s in subsets:
            comb = fit_ransac(m0[tr][:, s], m1[tr][:, s], h[tr], config)
            train_scores[tuple(s)] = comb.score(m0[tr][:, s], m1[tr][:, s], h[tr])
            v0, v1 = comb.value(m0[te][:, s]), comb.value(m1[te][:, s])
            p = np.where(v1 > v0, 1.0, np.where(v0 > v1, 0.0, 0.5))
            pooled[tuple(s)][te] = p * h[te] + (1 - p) * (1 - h[te])
        pairs = [s for s in train_scores if len(s) == 2]
        best = max(pairs, key=lambda s: train_scores[s])
        chosen.append(" + ".join(names[i] for i in best))
        best_pair[te] = pooled[best][te]
    for s in subsets:
        label = " + ".join(names[i] for i in s) if len(s) < k or k == 2 else f"all {k} metrics"
        out.append((f"RANSAC: {label}", float(pooled[tuple(s)].mean())))
    out.append(("RANSAC: best pair (selected on train)", float(best_pair.mean())))
    return out, chosen


def main() -> None:
    folder = shared_dir() / "data" / "perceptual"
    if not folder.is_dir():
        sys.exit(f"{folder}: not found (set SALICODEC_SHARED)")
    config = RansacConfig(iterations=1000, seed=0)
    names, m0, m1, h, group, n_src = load_aic(folder)
    rows, chosen = evaluate(names, m0, m1, h, group, config)
    print(f"### JPEG AIC-3, same-source pairs ({len(h)} pairs of {n_src} sources; held out: leave one source out)\n")
    print("| metric | 2AFC |\n|---|---|")
    for label, v in rows:
        print(f"| {label} | {v:.4f} |")
    print(f"\nbest pair chosen per fold: {', '.join(chosen)}\n")
    names, m0, m1, h, group, votes = load_kodak(folder)
    rows, chosen = evaluate(names, m0, m1, h, group, config)
    print(f"### Kodak 2AFC votes, Chen et al. ({len(h)} pairs, {votes} votes each; held out: 6 folds of 3 images)\n")
    print("| metric | 2AFC |\n|---|---|")
    for label, v in rows:
        print(f"| {label} | {v:.4f} |")
    print(f"\nbest pair chosen per fold: {', '.join(chosen)}")


if __name__ == "__main__":
    main()
