"""The training figures docs/MODELS.md quotes for a run, from its log.csv (salicodec.training.loop):
bpp, MSE and DPL as the mean of the first and of the last N logged steps (random crops, so one step
says little), the throughput's 5–95 % range over the logged steps, and the last step at each
learning rate (where `salicodec.training.parallel`'s phase B began).

    python benchmarks/train_log_summary.py runs/NAME/log.csv [--window 30]
"""
from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np

FIGURES = ("bpp", "mse", "dpl")


def summarise(rows: list[dict], window: int) -> dict:
    """rows: log.csv records that carry training figures (rows without bpp are skipped)."""
    rows = [r for r in rows if r.get("bpp")]
    if not rows:
        raise ValueError("no logged training steps")
    first, last = rows[:window], rows[-window:]
    out = {"steps": int(rows[-1]["step"])}
    for k in FIGURES:
        out[k] = (float(np.mean([float(r[k]) for r in first])), float(np.mean([float(r[k]) for r in last])))
    out["images_per_s_5_95"] = tuple(float(v) for v in np.percentile([float(r["images_per_s"]) for r in rows], [5, 95]))
    last_step_at_lr: dict[float, int] = {}
    for r in rows:
        last_step_at_lr[float(r["lr"])] = int(r["step"])
    out["last_step_at_lr"] = last_step_at_lr
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("log", type=Path, help="a run's log.csv")
    ap.add_argument("--window", type=int, default=30, help="logged steps averaged at each end (default 30)")
    args = ap.parse_args()
    if args.window < 1:
        raise SystemExit("--window must be at least 1")
    try:
        with args.log.open(newline="") as f:
            s = summarise(list(csv.DictReader(f)), args.window)
    except (OSError, ValueError, KeyError) as e:
        raise SystemExit(f"{args.log}: not a training log ({e})")
    print(f"steps: {s['steps']}")
    fmt = {"bpp": "{:.3f}", "mse": "{:.5f}", "dpl": "{:.3f}"}
    for k in FIGURES:
        a, b = s[k]
        print(f"{k}: {fmt[k].format(a)} -> {fmt[k].format(b)}  (first -> last {args.window} logged steps)")
    lo, hi = s["images_per_s_5_95"]
    print(f"images/s: {lo:.1f}-{hi:.1f}  (5-95 % of logged steps)")
    print("last step at lr: " + ", ".join(f"{lr:g}: {step}" for lr, step in s["last_step_at_lr"].items()))


if __name__ == "__main__":
    main()
