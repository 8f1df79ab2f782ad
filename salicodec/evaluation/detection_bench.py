"""The detection benchmark (`salicodec eval --task detection`) (analogue of Patel et al. Table 1): AP of YOLOX-Nano on the COCO mini set
compressed by each codec at each target bpp, rate-matched per image (salicodec.evaluation.ratematch,
as in the rate-distortion benchmark), plus the uncompressed AP; bootstrap 95 % intervals over images.

Outputs in OUT/: detection_table.md (the table), detection.json (everything, per image bpp too),
detection_ap_vs_bpp.png (the figure).
"""
from __future__ import annotations

import json
import multiprocessing
import os
import shlex
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..errors import SalicodecError
from . import detection as D

PAPER_BPPS = (0.23, 0.37, 0.67, 1.0)


@dataclass
class CodecRow:
    codec: str
    settings: str
    target_bpp: float
    mean_bpp: float
    unreachable: int  # images whose target lay beyond the codec's range
    ap: float
    ap50: float
    ap75: float
    ci: tuple[float, float]
    ci50: tuple[float, float]


def _work(job):
    """One image through one codec at every target: rate match, decode, detect (in a worker)."""
    codec_name, path, image_id, bpps, det_cfg = job
    from ..baselines import make_codec
    from ..imageio import load_rgb
    from .ratematch import RateMatcher
    from .runner import task_points

    rgb = load_rgb(path)
    codec = make_codec(codec_name)
    detector = _detector(det_cfg)
    matcher = None
    out = []
    # The same rule as the Kodak tasks: our codec has one point per shipped model (its target,
    # coded as it is, no search), the others one per target, found by rate matching.
    for b, setting, _label in task_points(codec, bpps):
        if setting is not None:
            data = codec.encode(rgb, setting)
            det = detector.detect(codec.decode(data))
            out.append((b, D.bpp_of(data, rgb), True, det))
            continue
        if matcher is None:
            matcher = RateMatcher(lambda v: codec.encode(rgb, v), codec.parameter, rgb.shape[0] * rgb.shape[1])
        m = matcher.match(b)
        det = detector.detect(codec.decode(m.data))
        out.append((b, m.bpp, m.reachable, det))
    return image_id, out


_DETECTORS: dict = {}


def _detector(cfg: D.DetectorConfig) -> D.YoloxNano:
    key = str(cfg)
    if key not in _DETECTORS:
        _DETECTORS[key] = D.YoloxNano(cfg)
    return _DETECTORS[key]


def run(codecs: list[str], bpps=PAPER_BPPS, out_dir: str | Path = "out/detection", *, jobs: int = 1,
        bootstrap: int = 1000, coco_dir=None, weights=None, limit: int | None = None, force: bool = False,
        progress: bool = True) -> dict:
    from ..baselines import Salicodec, make_codec
    from .runner import task_points
    from ..imageio import load_rgb

    out = Path(out_dir)
    if out.exists() and (not out.is_dir() or any(out.iterdir())) and not force:
        raise SalicodecError(f"{out}: exists and is not empty (use --force to overwrite)")
    cfg = D.DetectorConfig(weights=weights)
    detector = D.YoloxNano(cfg)  # fails early and clearly when the weights are missing
    coco = D.load_coco(coco_dir)
    out.mkdir(parents=True, exist_ok=True)
    images = coco.images[:limit] if limit else coco.images
    if limit:
        ids = {im["id"] for im in images}
        ann = dict(coco.annotations, images=images,
                   annotations=[a for a in coco.annotations["annotations"] if a["image_id"] in ids])
        coco = D.CocoSet(coco.directory, ann, coco.category_ids)
    from ..baselines import CodecUnavailable

    available = []
    for name in codecs:
        try:
            make_codec(name).check_available()
            available.append(name)
        except CodecUnavailable as e:  # as `salicodec eval` does: report and go on with the others
            print(f"salicodec: warning: codec {name} skipped: {e}", file=sys.stderr)
    codecs = available

    from tqdm import tqdm

    from .runner import _init_worker  # one torch thread per worker, as salicodec eval's

    t0 = time.time()
    uncompressed = D.detect_all(detector, coco, {im["id"]: load_rgb(coco.image_path(im)) for im in images})
    ref = D.coco_ap(coco, uncompressed, bootstrap=bootstrap)
    report = {"command": "salicodec " + shlex.join(sys.argv[1:]), "detector": "YOLOX-Nano (ONNX, 416x416)", "images": len(images), "bootstrap": bootstrap,
              "score_threshold": cfg.score_threshold, "nms_iou": cfg.nms_iou,
              "uncompressed": asdict(ref), "codecs": [], "per_image_bpp": {}}
    for name in codecs:
        codec = make_codec(name)
        jobs_list = [(name, str(coco.image_path(im)), im["id"], tuple(bpps), cfg) for im in images]
        # Our codec's rate points are its models' targets; the others are matched to `bpps`.
        points = task_points(codec, bpps)
        targets = [target for target, _, _ in points]
        # Each of our rows names the model behind it (the family changes between releases).
        row_settings = {target: Salicodec(setting).settings for target, setting, _ in points if setting}
        results = {b: [] for b in targets}
        achieved = {b: [] for b in targets}
        unreachable = {b: 0 for b in targets}
        # spawn, not fork: a child forked after torch or oneDNN started threads can wait forever on a
        # lock one of those threads held (it did, in the test suite, after an encode with --refine).
        with ProcessPoolExecutor(max_workers=max(1, jobs), mp_context=multiprocessing.get_context("spawn"),
                                 initializer=_init_worker) as pool:
            for image_id, per_bpp in tqdm(pool.map(_work, jobs_list), total=len(jobs_list), desc=name,
                                          disable=not progress):
                for b, real_bpp, reachable, det in per_bpp:
                    results[b] += D.to_coco_results(image_id, det, coco.category_ids)
                    achieved[b].append(real_bpp)
                    unreachable[b] += 0 if reachable else 1
                    report["per_image_bpp"].setdefault(name, {}).setdefault(str(b), []).append(real_bpp)
        for b in targets:
            ap = D.coco_ap(coco, results[b], bootstrap=bootstrap)
            row = CodecRow(name, row_settings.get(b, codec.settings), b, float(np.mean(achieved[b])), unreachable[b],
                           ap.ap, ap.ap50, ap.ap75, ap.ci, ap.ci50)
            report["codecs"].append(asdict(row))
        _write(out, report)  # after every codec: partial results survive an interruption
    report["seconds"] = time.time() - t0
    _write(out, report)
    plot(report, out / "detection_ap_vs_bpp.png")
    return report


def _write(out: Path, report: dict) -> None:
    from ..imageio import atomic_write_bytes

    atomic_write_bytes(out / "detection.json", json.dumps(report, indent=1).encode(), force=True)
    atomic_write_bytes(out / "detection_table.md", table_markdown(report).encode(), force=True)


def table_markdown(report: dict) -> str:
    u = report["uncompressed"]
    lines = [
        f"YOLOX-Nano on {report['images']} COCO val2017 images; AP@[.5:.95] x100 with the bootstrap 95 % "
        f"interval over images ({report['bootstrap']} resamples). Uncompressed: **{100 * u['ap']:.1f}** "
        f"[{100 * u['ci'][0]:.1f}, {100 * u['ci'][1]:.1f}], AP50 {100 * u['ap50']:.1f}, AP75 {100 * u['ap75']:.1f}.",
        "",
        "| codec | target bpp | mean bpp | AP | 95 % CI | AP50 | AP75 | unreachable |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in report["codecs"]:
        lines.append(f"| {r['codec']} | {r['target_bpp']:.2f} | {r['mean_bpp']:.3f} | {100 * r['ap']:.1f} | "
                     f"[{100 * r['ci'][0]:.1f}, {100 * r['ci'][1]:.1f}] | {100 * r['ap50']:.1f} | "
                     f"{100 * r['ap75']:.1f} | {r['unreachable']} |")
    return "\n".join(lines) + "\n"


def plot(report: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    names = list(dict.fromkeys(r["codec"] for r in report["codecs"]))
    for name in names:
        rows = [r for r in report["codecs"] if r["codec"] == name]
        x = [r["mean_bpp"] for r in rows]
        y = [100 * r["ap"] for r in rows]
        # a percentile interval need not contain the estimate on a small sample: clip the bars
        lo = [max(0.0, 100 * (r["ap"] - r["ci"][0])) for r in rows]
        hi = [max(0.0, 100 * (r["ci"][1] - r["ap"])) for r in rows]
        ax.errorbar(x, y, yerr=[lo, hi], marker="o", capsize=2, label=name, alpha=0.85)
    u = report["uncompressed"]
    ax.axhline(100 * u["ap"], color="k", ls="--", lw=1, label="uncompressed")
    ax.axhspan(100 * u["ci"][0], 100 * u["ci"][1], color="k", alpha=0.07)
    ax.set_xlabel("bits per pixel (mean of the rate-matched files)")
    ax.set_ylabel("AP@[.5:.95] x100 (YOLOX-Nano)")
    ax.set_title(f"Detection on compressed COCO val2017 ({report['images']} images)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    tmp = path.with_suffix(".tmp.png")
    fig.savefig(tmp, dpi=120)
    os.replace(tmp, path)
    plt.close(fig)
