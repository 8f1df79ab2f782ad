"""Train several configurations at once on one machine, inside a fixed wall-clock budget.

    python -m salicodec.training.parallel CONFIG... --runs DIR --minutes M [--export DIR]
                                          [--decay-at 0.8] [--decay 0.2] [--resume-from DIR]

Made for a lent GPU with a hard time limit per command (docs/TRAINING.md): every config trains
in its own process (`salicodec train`), all at the same time on the one device. The step at which
the learning rate drops cannot be chosen in advance (the speed is unknown until the run), so the
schedule is one of wall-clock time: phase A trains for `decay_at * M` minutes at the config's
learning rate, phase B resumes from phase A's checkpoint with the rate times `decay` for the rest.
The steps each phase reached are in the run's `log.csv` and printed at the end.

`--export DIR` copies each run's model weights (no optimiser state: a file small enough for the
lent machine's return limit) to DIR/NAME.pt whenever a run writes a checkpoint (polled every 5 s)
and at the end, written atomically, so
a command killed at its limit still returns the latest checkpoint; and the logs as DIR/logs.tar.gz.
"""
from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import torch

from ..errors import SalicodecError
from .loop import TrainConfig, atomic_torch_save


def light_checkpoint(last: Path, dest: Path, half: bool = False) -> None:
    """last.pt without the optimiser state: what `salicodec.training.export` and `init_from` need.

    fp32, or with `half` the floating tensors in fp16 (half the bytes, for a run's weights kept in
    git between sessions, checkpoints/README.md): `init_from` and the export cast them back."""
    ck = torch.load(last, map_location="cpu", weights_only=True)
    sd = ck["state_dict"]
    if half:
        sd = {k: v.half() if v.is_floating_point() else v for k, v in sd.items()}
    atomic_torch_save({"config": ck["config"], "state_dict": sd, "step": ck["step"]}, dest)


def launch(config: Path, run: Path, minutes: float, resume: Path | None) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "salicodec.cli", "train", str(config), "--out", str(run),
           "--time-budget", f"{minutes:.3f}"]
    if resume is not None:
        cmd += ["--resume", str(resume)]
    run.mkdir(parents=True, exist_ok=True)
    with open(run / "stdout.txt", "a") as log:  # the child keeps its own handle
        log.write(f"$ {' '.join(cmd)}\n")
        log.flush()
        return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)


def export_all(runs: dict[str, Path], export: Path | None, seen: dict[str, float]) -> None:
    if export is None:
        return
    export.mkdir(parents=True, exist_ok=True)
    for name, run in runs.items():
        last = run / "last.pt"
        if last.is_file() and last.stat().st_mtime != seen.get(name):
            try:
                light_checkpoint(last, export / f"{name}.pt")
                seen[name] = last.stat().st_mtime
            except Exception as e:  # a checkpoint replaced while we read it: take it next time
                print(f"export {name}: {e}", flush=True)


def export_logs(runs: dict[str, Path], export: Path | None) -> None:
    if export is None:
        return
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, run in runs.items():
            for f in ("log.csv", "stdout.txt", "phaseB.json"):
                if (run / f).is_file():
                    tar.add(run / f, arcname=f"{name}/{f}")
    tmp = export / "logs.tar.gz.tmp"
    tmp.write_bytes(buf.getvalue())
    os.replace(tmp, export / "logs.tar.gz")


def wait_all(procs: dict[str, subprocess.Popen], runs, export, seen) -> dict[str, int]:
    while any(p.poll() is None for p in procs.values()):
        time.sleep(5)
        export_all(runs, export, seen)
    export_all(runs, export, seen)
    export_logs(runs, export)
    return {n: p.returncode for n, p in procs.items()}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("configs", nargs="+", type=Path)
    ap.add_argument("--runs", type=Path, required=True, help="folder of the run folders (one per config name)")
    ap.add_argument("--minutes", type=float, required=True, help="training time of each run, both phases")
    ap.add_argument("--decay-at", type=float, default=0.8, help="fraction of the time at the config's lr")
    ap.add_argument("--decay", type=float, default=0.2, help="lr factor of phase B")
    ap.add_argument("--resume-from", type=Path, help="folder of NAME.pt / NAME/last.pt to continue from")
    ap.add_argument("--export", type=Path, help="copy light checkpoints and logs here as they are written")
    args = ap.parse_args(argv)

    try:
        cfgs = {TrainConfig.load(c).name: c for c in args.configs}
    except SalicodecError as e:
        print(f"salicodec: error: {e}", file=sys.stderr)
        return 2
    runs = {name: args.runs / name for name in cfgs}
    seen: dict[str, float] = {}
    t0 = time.time()

    def resume_of(name: str) -> Path | None:
        if args.resume_from is None:
            return None
        for cand in (args.resume_from / name / "last.pt", args.resume_from / f"{name}.pt"):
            if cand.is_file():
                return cand
        return None

    minutes_a = args.minutes * args.decay_at
    procs = {n: launch(c, runs[n], minutes_a, resume_of(n)) for n, c in cfgs.items()}
    codes = wait_all(procs, runs, args.export, seen)
    print(f"phase A ({minutes_a:.2f} min each) ended after {time.time() - t0:.0f} s: {codes}", flush=True)
    failed = [n for n, c in codes.items() if c != 0]
    # Phase B: what is left of the budget, at the decayed rate, from phase A's checkpoint.
    minutes_b = args.minutes - (time.time() - t0) / 60
    procs = {}
    if minutes_b > 0:
        for name, c in cfgs.items():
            last = runs[name] / "last.pt"
            if name in failed or not last.is_file():
                continue
            d = json.loads(Path(c).read_text())
            d["lr"] = d.get("lr", TrainConfig.lr) * args.decay
            d["init_from"] = ""
            (runs[name] / "phaseB.json").write_text(json.dumps(d, indent=1))
            procs[name] = launch(runs[name] / "phaseB.json", runs[name], minutes_b, last)
        codes_b = wait_all(procs, runs, args.export, seen)
        print(f"phase B ({minutes_b:.2f} min) ended after {time.time() - t0:.0f} s: {codes_b}", flush=True)
        failed += [n for n, c in codes_b.items() if c != 0]
    for name, run in runs.items():
        tail = (run / "stdout.txt").read_text().strip().splitlines()[-2:] if (run / "stdout.txt").is_file() else []
        print(f"{name}: " + " | ".join(tail), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
