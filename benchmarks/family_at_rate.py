"""The shipped family's Kodak quality at a given rate, from the registry's measured figures: the
yardstick a new checkpoint is judged by before it ships ("at equal rate" in docs/MODELS.md).

    python benchmarks/family_at_rate.py 0.3936 [--registry PATH]

Inside the family's range each metric is `quality_at_rate` (linear in log bpp between the two
neighbouring members); outside it, that function holds the end point, and the last segment
extended in log bpp is printed beside it, marked, since a candidate that spends more bits than the
end member should be compared with the trend, not with the end point alone. --registry reads
another registry file, e.g. the family a session started from:
`git show REV:salicodec/zoo/registry.json > /tmp/reg.json`.
"""
from __future__ import annotations

import argparse
import math
from pathlib import Path

from salicodec.evaluation.bdrate import quality_at_rate
from salicodec.models.zoo import REGISTRY, list_models

METRICS = ("psnr", "ms_ssim", "lpips", "lpips_alex")


def family(registry: Path) -> list[dict]:
    """The current family's measured figures (zoo.list_models: entries not superseded), in order of bpp."""
    current = [m.measured | {"name": m.name} for m in list_models(registry=registry) if m.measured.get("bpp")]
    return sorted(current, key=lambda m: m["bpp"])


def end_segment_extended(members: list[dict], metric: str, rate: float) -> float:
    """The segment between the two members nearest `rate`'s side, extended in log bpp to `rate`."""
    a, b = (members[0], members[1]) if rate < members[0]["bpp"] else (members[-2], members[-1])
    slope = (b[metric] - a[metric]) / (math.log(b["bpp"]) - math.log(a["bpp"]))
    return b[metric] + slope * (math.log(rate) - math.log(b["bpp"]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("rate", type=float, help="bits per pixel of the candidate")
    ap.add_argument("--registry", type=Path, default=REGISTRY, help="registry JSON (default: the package's)")
    args = ap.parse_args()
    if not args.registry.is_file():  # list_models reads regular files only: a pipe such as <(git show …) gives no family
        raise SystemExit(f"{args.registry}: not a regular file (write `git show REV:salicodec/zoo/registry.json` to one)")
    members = family(args.registry)
    if len(members) < 2 or args.rate <= 0:
        raise SystemExit("need a positive rate and a family of at least two measured members")
    print("family:", ", ".join(f"{m['name']} {m['bpp']:.4f}" for m in members))
    for metric in METRICS:
        have = [m for m in members if metric in m]
        if len(have) < 2:
            continue
        value, inside = quality_at_rate([m["bpp"] for m in have], [m[metric] for m in have], args.rate)
        extra = "" if inside else f"  (end point; last segment extended: {end_segment_extended(have, metric, args.rate):.4f})"
        print(f"{metric}: {value:.4f}{extra}")


if __name__ == "__main__":
    main()
