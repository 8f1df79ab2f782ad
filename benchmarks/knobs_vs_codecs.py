"""Operating points of `coding_knobs_kodak.py` against the Kodak curves of an eval summary: each
point beside the standard codecs and the shipped `ours` curve at the same bpp (linear in log bpp,
as `quality_goals.py`; "(end)" marks a codec's end point used outside its range).

    python benchmarks/knobs_vs_codecs.py out/knobs/full.jsonl docs/benchmarks/kodak_summary.json
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from salicodec.evaluation.bdrate import quality_at_rate

METRICS = ["psnr", "ms-ssim", "lpips", "lpips-alex", "psnr-s"]
RIVALS = ["ours", "jpeg-420", "jpeg2000", "webp", "heic"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("points", type=Path, help="JSON lines of coding_knobs_kodak.py --jsonl")
    ap.add_argument("summary", type=Path, help="a salicodec eval summary.json (e.g. docs/benchmarks/kodak_summary.json)")
    a = ap.parse_args()
    curves = json.loads(a.summary.read_text())["summary"]
    print("| model | λ1 | λ2 | curve | bpp | " + " | ".join(METRICS) + " |")
    print("|---|---|---|---|---|" + "---|" * len(METRICS))
    for line in a.points.read_text().splitlines():
        p = json.loads(line)
        if not all(m in p for m in METRICS):
            continue  # a rate-only calibration line
        print(f"| {p['model']} | {p['saliency_weight']:g} | {p['importance_weight']:g} | **this point** | "
              f"{p['bpp']:.3f} | " + " | ".join(f"**{p[m]:.4f}**" for m in METRICS) + " |")
        for rival in RIVALS:
            cells = []
            for m in METRICS:
                pts = curves[rival]
                if any(q.get(m) is None for q in pts):
                    cells.append("–")
                    continue
                v, inside = quality_at_rate([q["bpp"] for q in pts], [q[m] for q in pts], p["bpp"])
                cells.append(f"{v:.4f}" + ("" if inside else " (end)"))
            print(f"| | | | {rival} | | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
