"""Two-alternative forced choice (2AFC) data, the LPIPS-Comp trainer and the 2AFC score.

Data format: a CSV file with a header and one row per judgement (paths relative to the CSV):

    ref,p0,p1,h[,votes]
    img/0001_ref.png,img/0001_bpg.png,img/0001_j2k.png,0.833,6

`h` is the fraction of people who judged p1 closer to ref (LPIPS's "judge"); `votes` how many
people judged (optional, informational). The three images of a row must have the same size.

Training (Sec. 2.2 of Patel et al., LPIPS Sec. 3.3): the backbone is frozen; only the
non-negative per-channel weights w are learned, with LPIPS's ranking loss: a small network
G(d0, d1) -> P(p1 is closer), cross-entropy against h. Given the frozen network the distance is
linear in w, d = Σ_l ⟨w_l, D_l⟩ with D_l the spatial mean of the squared normalised tap
differences (lpips.tap_squared_differences), so D is computed once per pair and the training
itself runs on those vectors. Non-negativity is kept by clamping after each step, as LPIPS does.

2AFC score of a metric on a triplet: p·h + (1 − p)(1 − h), p = 1 if the metric calls p1 closer,
0 if p0, 1/2 on a tie (LPIPS's `score_2afc_dataset`). A "human" scores h² + (1 − h)² on average.
"""
from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..errors import SalicodecError

__all__ = [
    "Triplet",
    "load_2afc",
    "write_2afc",
    "score_2afc",
    "human_2afc",
    "pair_features",
    "TrainConfig",
    "train_lin_weights",
    "split_weights",
    "triplet_features",
    "train_2afc",
    "score_metric_2afc",
]


@dataclass(frozen=True)
class Triplet:
    ref: Path
    p0: Path
    p1: Path
    h: float  # fraction of people who judged p1 closer to ref
    votes: int | None = None


def load_2afc(csv_path: str | Path) -> list[Triplet]:
    """Read a 2AFC CSV (see module docstring); every problem is a one-line SalicodecError."""
    p = Path(csv_path)
    if not p.is_file():
        raise SalicodecError(f"{p}: no such 2AFC file")
    base = p.parent
    rows: list[Triplet] = []
    try:
        with open(p, newline="") as f:
            reader = csv.DictReader(f)
            missing = {"ref", "p0", "p1", "h"} - set(reader.fieldnames or [])
            if missing:
                raise SalicodecError(f"{p}: missing column(s) {', '.join(sorted(missing))} (need ref,p0,p1,h)")
            for i, r in enumerate(reader, start=2):
                try:
                    h = float(r["h"])
                    votes = int(r["votes"]) if r.get("votes") not in (None, "") else None
                except ValueError:
                    raise SalicodecError(f"{p}:{i}: h must be a number and votes an integer") from None
                if not (0.0 <= h <= 1.0) or math.isnan(h):
                    raise SalicodecError(f"{p}:{i}: h = {h} is not a fraction in [0, 1]")
                rows.append(Triplet(base / r["ref"], base / r["p0"], base / r["p1"], h, votes))
    except UnicodeDecodeError:
        raise SalicodecError(f"{p}: not a text CSV file") from None
    if not rows:
        raise SalicodecError(f"{p}: no judgements")
    return rows


def write_2afc(triplets: list[Triplet], csv_path: str | Path, *, force: bool = False) -> None:
    """Write triplets as a 2AFC CSV, paths relative to the CSV's folder."""
    import io

    from ..imageio import atomic_write_bytes

    dest = Path(csv_path)
    base = dest.parent.resolve()
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["ref", "p0", "p1", "h", "votes"])
    for t in triplets:
        rel = [Path(x).resolve().relative_to(base).as_posix() for x in (t.ref, t.p0, t.p1)]
        w.writerow(rel + [f"{t.h:.6g}", "" if t.votes is None else t.votes])
    atomic_write_bytes(dest, buf.getvalue().encode(), force=force)


def score_2afc(d0, d1, h, higher_is_better: bool = False) -> float:
    """Mean 2AFC score of a metric: d0, d1 its values for p0, p1; h human fractions for p1."""
    d0, d1, h = (np.asarray(a, dtype=np.float64) for a in (d0, d1, h))
    if higher_is_better:
        d0, d1 = -d0, -d1
    p = np.where(d1 < d0, 1.0, np.where(d0 < d1, 0.0, 0.5))  # metric says p1 is closer
    return float(np.mean(p * h + (1 - p) * (1 - h)))


def human_2afc(h) -> float:
    """Expected 2AFC score of one random person against the panel: mean of h² + (1 − h)²."""
    h = np.asarray(h, dtype=np.float64)
    return float(np.mean(h * h + (1 - h) * (1 - h)))


# --------------------------------------------------------------------------------------------
# features
def pair_features(dpl, ref: torch.Tensor | None, dist: torch.Tensor, ref_feats: list[torch.Tensor] | None = None) -> torch.Tensor:
    """(N, ΣC_l) float64: per-channel spatial means of squared normalised tap differences.

    ref_feats: the reference's taps when already computed (then `ref` may be None).
    """
    from .lpips import tap_squared_differences

    with torch.no_grad():
        if ref_feats is None:
            ref_feats = dpl.features(ref)
        d = tap_squared_differences(ref_feats, dpl.features(dist))
    return torch.cat(d, dim=1).double()


def _unit(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.array(a, copy=True)).permute(2, 0, 1)[None].float() / 255.0


def triplet_features(triplets: list[Triplet], dpl, progress: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """D0, D1 (N, ΣC_l) for the pairs (ref, p0) and (ref, p1) of each triplet."""
    from tqdm import tqdm

    from ..imageio import load_rgb

    d0, d1 = [], []
    for t in tqdm(triplets, desc="2AFC features", disable=not progress, leave=False):
        ref, a, b = load_rgb(t.ref), load_rgb(t.p0), load_rgb(t.p1)
        if not (ref.shape == a.shape == b.shape):
            raise SalicodecError(f"{t.ref.name}: the three images of a judgement must have the same size")
        f = pair_features(dpl, torch.cat([_unit(ref)] * 2), torch.cat([_unit(a), _unit(b)]))
        d0.append(f[0])
        d1.append(f[1])
    return torch.stack(d0), torch.stack(d1)


# --------------------------------------------------------------------------------------------
# training
class Dist2Logit(nn.Module):
    """LPIPS's ranking head: (d0, d1, d0 − d1, d0/d1, d1/d0) -> 32 -> 32 -> P(p1 closer)."""

    def __init__(self, hidden: int = 32, eps: float = 0.1):
        super().__init__()
        self.eps = eps
        self.net = nn.Sequential(
            nn.Linear(5, hidden), nn.LeakyReLU(0.2), nn.Linear(hidden, hidden), nn.LeakyReLU(0.2), nn.Linear(hidden, 1)
        )

    def forward(self, d0: torch.Tensor, d1: torch.Tensor) -> torch.Tensor:
        x = torch.stack([d0, d1, d0 - d1, d0 / (d1 + self.eps), d1 / (d0 + self.eps)], dim=1)
        return self.net(x).squeeze(1)  # a logit; the sigmoid is inside the loss


@dataclass
class TrainConfig:
    epochs: int = 200
    lr: float = 1e-2
    batch_size: int = 128
    seed: int = 0
    init: str = "ones"  # "ones" (LPIPS's unlearned baseline) or "lpips" (the official weights)


def train_lin_weights(
    D0: torch.Tensor, D1: torch.Tensor, h: torch.Tensor, config: TrainConfig = TrainConfig(), init_w: torch.Tensor | None = None,
    log=None,
) -> torch.Tensor:
    """Learn non-negative w (ΣC_l,) so that ⟨w, D0⟩ vs ⟨w, D1⟩ predicts h (LPIPS ranking loss)."""
    if not (D0.shape == D1.shape and D0.ndim == 2 and h.shape == (D0.shape[0],)):
        raise ValueError("D0, D1 must be (N, C) and h (N,)")
    g = torch.Generator().manual_seed(config.seed)
    torch.manual_seed(config.seed)
    D0, D1, h = D0.float(), D1.float(), h.float()
    # Scale the features so that the initial distances are of order one: the head's ratios and
    # the step size then behave the same whatever the backbone or image size.
    w = (init_w.float().clone() if init_w is not None else torch.ones(D0.shape[1]))
    scale = float(((D0 + D1) @ w).mean() / 2) or 1.0
    w = nn.Parameter(w / scale)
    head = Dist2Logit()
    opt = torch.optim.Adam([w, *head.parameters()], lr=config.lr)
    loss_fn = nn.BCEWithLogitsLoss()
    n = D0.shape[0]
    for epoch in range(config.epochs):
        order = torch.randperm(n, generator=g)
        total = 0.0
        for start in range(0, n, config.batch_size):
            idx = order[start : start + config.batch_size]
            d0, d1 = D0[idx] @ w, D1[idx] @ w
            loss = loss_fn(head(d0, d1), h[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            with torch.no_grad():
                w.clamp_(min=0.0)  # non-negative weights (LPIPS's clamp_weights)
            total += loss.item() * len(idx)
        if log and (epoch % 50 == 0 or epoch == config.epochs - 1):
            log(f"epoch {epoch}: ranking loss {total / n:.4f}")
    return w.detach() / w.detach().sum() * w.numel()  # the scale of w is arbitrary: fix Σw = C


def split_weights(w: torch.Tensor, net: str = "vgg") -> list[torch.Tensor]:
    """(ΣC_l,) -> five per-layer vectors, for save_lin_weights."""
    from .backbones import TAP_CHANNELS

    return list(torch.split(w.float(), list(TAP_CHANNELS[net])))


def train_2afc(data: str | Path, net: str = "vgg", config: TrainConfig = TrainConfig(), log=print) -> list[torch.Tensor]:
    """Learn LPIPS-Comp weights from a 2AFC CSV; returns the five per-layer weight vectors."""
    from .lpips import DeepPerceptualLoss, load_lin_weights

    triplets = load_2afc(data)
    if len(triplets) < 10:
        raise SalicodecError(f"{data}: {len(triplets)} judgements are too few to learn weights from")
    dpl = DeepPerceptualLoss(net, lin_weights=None)
    D0, D1 = triplet_features(triplets, dpl)
    h = torch.tensor([t.h for t in triplets])
    init = torch.cat(load_lin_weights("lpips-vgg" if net == "vgg" else "lpips-alex", net)) if config.init == "lpips" else None
    w = train_lin_weights(D0, D1, h, config, init_w=init, log=log)
    score = score_2afc(D0.double() @ w.double(), D1.double() @ w.double(), h.numpy())
    log(f"trained on {len(triplets)} judgements: 2AFC score on them {score:.4f} (human {human_2afc(h.numpy()):.4f})")
    return split_weights(w, net)


def score_metric_2afc(data: str | Path, metric: str, progress: bool = True) -> tuple[float, float, int]:
    """(2AFC score of a registry metric, human score, number of judgements) on a 2AFC CSV."""
    from tqdm import tqdm

    from ..imageio import load_rgb
    from .registry import METRICS, compute

    if metric not in METRICS:
        raise SalicodecError(f"unknown metric {metric!r}; known: {', '.join(METRICS)}")
    triplets = load_2afc(data)
    v0, v1 = [], []
    for t in tqdm(triplets, desc=metric, disable=not progress, leave=False):
        ref = load_rgb(t.ref)
        v0.append(compute(ref, load_rgb(t.p0), [metric])[metric])
        v1.append(compute(ref, load_rgb(t.p1), [metric])[metric])
    h = [t.h for t in triplets]
    return score_2afc(v0, v1, h, METRICS[metric].higher_is_better), human_2afc(h), len(triplets)
