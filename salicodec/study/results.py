"""`salicodec study results`: what the votes say.

- Win counts (Patel et al. 2021, Fig. 5 and Sec. 4): for every image and rate, each pair of
  methods is decided by the majority of its votes (a tied pair gives each side half a win); the
  method with the most pair wins is best for that image at that rate; a tie for best splits the
  image between the tied methods. The table counts, per rate, the images on which each method is
  best. Only image-rate cells in which every pair has at least one vote are counted.
- Per-pair preference fractions with Wilson 95 % intervals, per rate.
- Export to the 2AFC data format of the metric trainer (one sample per pair: reference, the two
  reconstructions, and the fraction of people who preferred the second), split by image into
  train and test so that no image appears in both.
- Agreement of each metric with the votes (Fig. 3 analogue): a metric's 2AFC score on a pair is
  the fraction of votes that agree with the side the metric prefers (0.5 when it cannot decide),
  averaged over pairs; the "human" row is the agreement between two random voters on the same pair,
  p^2 + (1-p)^2, the ceiling that Zhang et al. (2018) report as human performance.
"""
from __future__ import annotations

import csv
import io
import math
import os
import random
import shutil
import tempfile
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import SalicodecError
from ..imageio import replace_dir
from ..metrics import twoafc
from . import db
from .layout import Study, bpp_key, load


@dataclass(frozen=True)
class TrialTally:
    trial: db.Trial
    votes_a: int  # votes for trial.codec_a
    votes_b: int

    @property
    def total(self) -> int:
        return self.votes_a + self.votes_b

    @property
    def frac_b(self) -> float:
        """Fraction of voters who preferred codec_b (the `judge` of a 2AFC sample)."""
        return self.votes_b / self.total


def tally(conn) -> list[TrialTally]:
    counts: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    for row in conn.execute(
        "SELECT v.trial_id, v.chosen_codec = t.codec_b AS chose_b, COUNT(*) AS n FROM votes v "
        "JOIN trials t ON t.id = v.trial_id GROUP BY v.trial_id, chose_b"
    ):
        counts[row["trial_id"]][int(row["chose_b"])] += int(row["n"])
    return [TrialTally(t, *counts[t.id]) for t in db.all_trials(conn)]


# --------------------------------------------------------------------------------------------
# Fig. 5 analogue
def win_counts(tallies: list[TrialTally], codecs: list[str], bpps: list[float]):
    """Returns ({bpp: {codec: images best}}, {bpp: images counted}, {bpp: images skipped})."""
    cells: dict[tuple[str, float], list[TrialTally]] = defaultdict(list)
    for t in tallies:
        cells[(t.trial.image, t.trial.bpp)].append(t)
    best = {b: {c: 0.0 for c in codecs} for b in bpps}
    counted = {b: 0 for b in bpps}
    skipped = {b: 0 for b in bpps}
    for (_, bpp), pairs in sorted(cells.items()):
        if any(p.total == 0 for p in pairs):
            skipped[bpp] += 1
            continue
        score = {c: 0.0 for c in codecs}
        for p in pairs:
            if p.votes_a > p.votes_b:
                score[p.trial.codec_a] += 1.0
            elif p.votes_b > p.votes_a:
                score[p.trial.codec_b] += 1.0
            else:
                score[p.trial.codec_a] += 0.5
                score[p.trial.codec_b] += 0.5
        top = max(score.values())
        winners = [c for c in codecs if score[c] == top]
        for c in winners:
            best[bpp][c] += 1.0 / len(winners)
        counted[bpp] += 1
    return best, counted, skipped


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    if n == 0:
        return (math.nan, math.nan)
    p = k / n
    den = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / den
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return (max(0.0, centre - half), min(1.0, centre + half))


def pair_preferences(tallies: list[TrialTally]) -> list[dict]:
    groups: dict[tuple[float, str, str], list[TrialTally]] = defaultdict(list)
    for t in tallies:
        groups[(t.trial.bpp, t.trial.codec_a, t.trial.codec_b)].append(t)
    rows = []
    for (bpp, a, b), ts in sorted(groups.items()):
        n = sum(t.total for t in ts)
        k = sum(t.votes_a for t in ts)
        lo, hi = wilson(k, n)
        rows.append({
            "bpp": bpp_key(bpp), "codec_a": a, "codec_b": b, "images_with_votes": sum(t.total > 0 for t in ts),
            "votes": n, "prefer_a": round(k / n, 4) if n else "", "ci95_low": round(lo, 4) if n else "",
            "ci95_high": round(hi, 4) if n else "",
        })
    return rows


# --------------------------------------------------------------------------------------------
# 2AFC export and metric agreement
def split_images(images: list[str], test_fraction: float, seed: int) -> tuple[set[str], set[str]]:
    order = sorted(images)
    random.Random(seed).shuffle(order)
    n_test = int(round(test_fraction * len(order)))
    if test_fraction > 0 and len(order) > 1:
        n_test = min(max(n_test, 1), len(order) - 1)
    return set(order[n_test:]), set(order[:n_test])


@dataclass(frozen=True)
class PairSample:
    """One voted pair as a 2AFC judgement, with where it came from."""
    triplet: twoafc.Triplet  # ref, p0 = codec_a's reconstruction, p1 = codec_b's, h = share preferring p1
    image: str
    bpp: float
    codec_p0: str
    codec_p1: str


def twoafc_samples(study: Study, tallies: list[TrialTally]) -> list[PairSample]:
    """One 2AFC judgement per pair with votes."""
    samples = []
    for t in tallies:
        if t.total == 0:
            continue
        tr = t.trial
        triplet = twoafc.Triplet(
            ref=study.original(tr.image),
            p0=study.reconstruction(tr.image, tr.bpp, tr.codec_a),
            p1=study.reconstruction(tr.image, tr.bpp, tr.codec_b),
            h=t.frac_b, votes=t.total,
        )
        samples.append(PairSample(triplet, tr.image, tr.bpp, tr.codec_a, tr.codec_b))
    return samples


def write_twoafc_csv(samples: list[PairSample], dest: Path) -> None:
    """The metric trainer's 2AFC CSV (`salicodec.metrics.twoafc`): `ref,p0,p1,h,votes`, paths
    relative to the CSV's folder. (twoafc.write_2afc needs the images under the CSV's folder; here
    they are in the study, beside the results, so the paths go up with `..`.)"""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["ref", "p0", "p1", "h", "votes"])
    for s in samples:
        t = s.triplet
        rel = [Path(os.path.relpath(x, dest.parent)).as_posix() for x in (t.ref, t.p0, t.p1)]
        w.writerow([*rel, f"{t.h:.6g}", t.votes])
    dest.write_text(buf.getvalue())


def check_metrics(metrics: list[str], lpips_comp_weights: Path | None) -> None:
    """Refuse, before any work, metrics the registry does not know or a study cannot feed."""
    from ..metrics import METRICS
    from ..metrics.lpips import load_lin_weights
    from ..metrics.registry import lpips_comp_weights_path

    for name in metrics:
        if name not in METRICS:
            raise SalicodecError(f"unknown metric {name!r} (known: {', '.join(METRICS)})")
        if METRICS[name].needs_saliency:
            raise SalicodecError(f"{name} needs a saliency mask, and a study has none")
    if "lpips-comp" in metrics:
        load_lin_weights(str(lpips_comp_weights or lpips_comp_weights_path()), "vgg")  # one-line error if bad


def metric_agreement(samples: list[PairSample], metrics: list[str], lpips_comp_weights: Path | None = None,
                     progress: bool = True) -> list[dict]:
    """Fig. 3 analogue: the 2AFC score (twoafc.score_2afc) of each registry metric on the pairs."""
    from tqdm import tqdm

    from ..imageio import load_rgb
    from ..metrics import METRICS, compute

    check_metrics(metrics, lpips_comp_weights)
    # Every (original, reconstruction) once: a reconstruction is in several pairs.
    pairs = sorted({(s.triplet.ref, p) for s in samples for p in (s.triplet.p0, s.triplet.p1)})
    values: dict[tuple[Path, Path], dict[str, float]] = {}
    refs: dict[Path, np.ndarray] = {}
    for ref, dist in tqdm(pairs, desc="metrics", disable=not progress, leave=False):
        if ref not in refs:
            refs[ref] = np.array(load_rgb(ref))  # writable copies: torch refuses read-only arrays
        values[(ref, dist)] = compute(refs[ref], np.array(load_rgb(dist)), metrics,
                                      lpips_comp_weights=lpips_comp_weights)
    h = [s.triplet.h for s in samples]
    rows = []
    for name in metrics:
        d0 = [values[(s.triplet.ref, s.triplet.p0)][name] for s in samples]
        d1 = [values[(s.triplet.ref, s.triplet.p1)][name] for s in samples]
        score = twoafc.score_2afc(d0, d1, h, higher_is_better=METRICS[name].higher_is_better)
        rows.append({"metric": name, "2afc_score": round(score, 4), "pairs": len(samples)})
    return rows


# --------------------------------------------------------------------------------------------
def _table_csv(rows: list[dict]) -> str:
    if not rows:
        return ""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue()


def plot_win_counts(best: dict, codecs: list[str], bpps: list[float], dest: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4), dpi=120)
    width = 0.8 / len(codecs)
    for i, c in enumerate(codecs):
        xs = [j + (i - (len(codecs) - 1) / 2) * width for j in range(len(bpps))]
        ax.bar(xs, [best[b][c] for b in bpps], width=width, label=c)
    ax.set_xticks(range(len(bpps)), [bpp_key(b) for b in bpps])
    ax.set_xlabel("bits per pixel")
    ax.set_ylabel("images on which the method is best")
    ax.set_title("Human 2AFC evaluation: wins per method (cf. Patel et al. 2021, Fig. 5)")
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(dest)
    plt.close(fig)


DEFAULT_METRICS = ("psnr", "ms-ssim", "lpips")


def write_results(study_dir, out=None, *, metrics: list[str] = DEFAULT_METRICS, test_fraction: float = 0.2,
                  lpips_comp_weights: Path | None = None, force: bool = False, progress: bool = True) -> str:
    """Write every result file into `out` (default STUDY_DIR/results) and return the summary text.

    lpips_comp_weights: a weights file from `salicodec metric train-2afc`; LPIPS-Comp then joins
    the metric agreement (trained on twoafc/train.csv, it is fairly judged on the test pairs).
    """
    metrics = list(metrics)
    if lpips_comp_weights is not None and "lpips-comp" not in metrics:
        metrics.append("lpips-comp")
    check_metrics(metrics, lpips_comp_weights)
    study = load(study_dir)
    out = Path(out) if out is not None else study.root / "results"
    if out.exists() and not force:
        raise SalicodecError(f"{out}: exists (use --force to overwrite)")
    if not out.parent.is_dir():
        raise SalicodecError(f"{out.parent}: no such directory")
    conn = db.connect(study.db_path)
    try:
        tallies = tally(conn)
        n_participants = conn.execute("SELECT COUNT(DISTINCT participant_id) FROM votes").fetchone()[0]
    finally:
        conn.close()
    n_votes = sum(t.total for t in tallies)
    if n_votes == 0:
        raise SalicodecError(f"{study.root}: no votes yet")
    codecs, bpps = list(study.config.codecs), list(study.config.bpps)
    best, counted, skipped = win_counts(tallies, codecs, bpps)
    samples = twoafc_samples(study, tallies)

    lines = [f"{n_votes} votes from {n_participants} participants on "
             f"{sum(t.total > 0 for t in tallies)} of {len(tallies)} pairs", "",
             "Images on which each method is best (majority per pair, most pair wins per image):"]
    header = f"{'method':>16s} " + " ".join(f"{bpp_key(b):>8s}" for b in bpps)
    lines += [header] + [f"{c:>16s} " + " ".join(f"{best[b][c]:8.2f}" for b in bpps) for c in codecs]
    lines.append(f"{'images counted':>16s} " + " ".join(f"{counted[b]:8d}" for b in bpps))
    if any(skipped.values()):
        lines.append(f"{'(incomplete)':>16s} " + " ".join(f"{skipped[b]:8d}" for b in bpps))
    win_rows = [{"bpp": bpp_key(b), "codec": c, "images_best": round(best[b][c], 4),
                 "images_counted": counted[b]} for b in bpps for c in codecs]

    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.tmp-"))
    try:
        (tmp / "win_counts.csv").write_text(_table_csv(win_rows))
        plot_win_counts(best, codecs, bpps, tmp / "win_counts.png")
        (tmp / "pair_preferences.csv").write_text(_table_csv(pair_preferences(tallies)))
        train_images, test_images = split_images(list(study.images), test_fraction, study.config.seed)
        (tmp / "twoafc").mkdir()
        lines.append("")
        for split, keep in (("train", train_images), ("test", test_images)):
            part = [s for s in samples if s.image in keep]
            if part:  # the trainer refuses a file without judgements
                write_twoafc_csv(part, tmp / "twoafc" / f"{split}.csv")
            lines.append(f"2AFC export: {len(part)} judgements on {len(keep)} images in twoafc/{split}.csv"
                         + ("" if part else " (none, not written)"))
        if metrics:
            test = [s for s in samples if s.image in test_images] or samples
            human = twoafc.human_2afc([s.triplet.h for s in test])
            rows = [{"metric": "human", "2afc_score": round(human, 4), "pairs": len(test)}]
            rows += metric_agreement(test, metrics, lpips_comp_weights, progress=progress)
            (tmp / "metric_agreement.csv").write_text(_table_csv(rows))
            which = "held-out test pairs" if test is not samples else "all pairs (no test split)"
            lines += ["", f"Agreement with the votes (2AFC score, {which}):"]
            lines += [f"{r['metric']:>16s} {r['2afc_score']:8.4f}  ({r['pairs']} pairs)" for r in rows]
        summary = "\n".join(lines) + "\n"
        (tmp / "summary.txt").write_text(summary)
        # Relative paths in twoafc/*.csv were computed for tmp/twoafc; they hold for out/twoafc too,
        # since out and tmp are siblings at the same depth.
        replace_dir(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return summary + f"\nresults written to {out}"
