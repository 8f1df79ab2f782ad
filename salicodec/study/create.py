"""`salicodec study create`: compress a dataset with every codec at every rate, lay out all pairs.

As in the paper (Sec. 2.1, Sec. 4 "Quantitative Human Evaluations"), every pair of codecs is a
trial for every image and every target bpp: with C codecs that is C(C-1)/2 trials per image and
rate. The study is built in a hidden temporary folder beside the destination and renamed into place
at the end, so an interrupted `create` never leaves a half-made study behind.
"""
from __future__ import annotations

import itertools
import os
import shutil
import sqlite3
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from ..errors import SalicodecError
from ..imageio import load_rgb, replace_dir
from . import db
from .layout import CODEC_NAME, DATABASE, IMAGE_ID, MANIFEST, Study, StudyConfig, bpp_key
from .reconstruct import Reconstructor, check_codecs, default_reconstructor

IMAGE_EXTENSIONS = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".ppm"}
MIN_SIDE = 32  # the magnifier needs some room; smaller images are not useful for a study


def list_dataset(dataset_dir: Path, max_images: int | None) -> list[Path]:
    if not dataset_dir.is_dir():
        raise SalicodecError(f"{dataset_dir}: not a directory")
    files = sorted(p for p in dataset_dir.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)
    if not files:
        raise SalicodecError(f"{dataset_dir}: no images ({', '.join(sorted(IMAGE_EXTENSIONS))})")
    if max_images is not None:
        files = files[:max_images]
    stems = [p.stem for p in files]
    bad = [s for s in stems if not IMAGE_ID.match(s)]
    if bad:
        raise SalicodecError(f"image names must be letters, digits, '.', '_' or '-': {bad[0]!r}")
    dup = {s for s in stems if stems.count(s) > 1}
    if dup:
        raise SalicodecError(f"two images share the name {sorted(dup)[0]!r} (different extensions)")
    return files


def validate_config(config: StudyConfig) -> None:
    if len(config.codecs) < 2:
        raise SalicodecError("a 2AFC study needs at least two codecs")
    if len(set(config.codecs)) != len(config.codecs):
        raise SalicodecError("a codec is listed twice")
    for c in config.codecs:
        if not CODEC_NAME.match(c):
            raise SalicodecError(f"codec name {c!r}: use lower-case letters, digits, '.', '_', ':' or '-'")
    if not config.bpps:
        raise SalicodecError("give at least one target bpp")
    if len({bpp_key(b) for b in config.bpps}) != len(config.bpps):
        raise SalicodecError("a target bpp is listed twice")
    for b in config.bpps:
        if not (0.0 < b <= 24.0):
            raise SalicodecError(f"target bpp {b} is outside (0, 24]")
    if not (1 <= config.votes_per_trial <= 1000):
        raise SalicodecError("--votes-per-trial must be between 1 and 1000")
    if config.trials_per_participant < 0:
        raise SalicodecError("--trials-per-participant must be >= 0 (0 = no limit)")


def _save_png(rgb: np.ndarray, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rgb, "RGB").save(path, format="PNG", compress_level=6)


def _existing_votes(out: Path) -> int:
    dbp = out / DATABASE
    if not dbp.is_file():
        return 0
    try:
        conn = sqlite3.connect(f"file:{dbp}?mode=ro", uri=True)
        try:
            return int(conn.execute("SELECT COUNT(*) FROM votes").fetchone()[0])
        finally:
            conn.close()
    except sqlite3.Error:
        return 0


def create_study(
    dataset_dir: str | Path,
    out: str | Path,
    config: StudyConfig,
    *,
    reconstructor: Reconstructor | None = None,
    max_images: int | None = None,
    force: bool = False,
    progress: bool = True,
) -> Study:
    validate_config(config)
    out = Path(out)
    if out.exists():
        if not force:
            raise SalicodecError(f"{out}: exists (use --force to replace it)")
        if not (out / MANIFEST).is_file():
            raise SalicodecError(f"{out}: exists and is not a study folder; not replacing it")
        n = _existing_votes(out)
        if n:
            raise SalicodecError(f"{out}: holds {n} votes; refusing to replace it even with --force")
    if not out.parent.is_dir():
        raise SalicodecError(f"{out.parent}: no such directory")
    files = list_dataset(Path(dataset_dir), max_images)
    if reconstructor is None:
        check_codecs(config.codecs)
        reconstructor = default_reconstructor()

    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.tmp-"))
    try:
        study = Study(tmp, config)
        jobs = len(files) * len(config.bpps) * len(config.codecs)
        bar = tqdm(total=jobs, desc="study create", unit="image", disable=not progress)
        for path in files:
            image = path.stem
            rgb = load_rgb(path)
            h, w = rgb.shape[:2]
            if min(h, w) < MIN_SIDE:
                raise SalicodecError(f"{path}: {w}x{h} is too small for a study (min side {MIN_SIDE})")
            rel = f"images/{image}/original.png"
            _save_png(rgb, tmp / rel)
            entry = {"original": rel, "width": w, "height": h, "source": path.name,
                     "reconstructions": {bpp_key(b): {} for b in config.bpps}}
            for codec in config.codecs:
                recs = reconstructor(rgb, codec, list(config.bpps))
                for bpp, rec in zip(config.bpps, recs, strict=True):
                    if rec.rgb.shape != rgb.shape or rec.rgb.dtype != np.uint8:
                        raise SalicodecError(f"codec {codec}: reconstruction of {image} has the wrong shape")
                    rrel = f"images/{image}/{bpp_key(bpp)}/{codec.replace(':', '_')}.png"
                    _save_png(rec.rgb, tmp / rrel)
                    entry["reconstructions"][bpp_key(bpp)][codec] = {
                        "file": rrel, "bpp": round(rec.bpp, 6), "setting": rec.setting}
                bar.update(len(config.bpps))
            study.images[image] = entry
        bar.close()

        trials = [
            (image, float(bpp), a, b)
            for image in study.images
            for bpp in config.bpps
            for a, b in itertools.combinations(sorted(config.codecs), 2)
        ]
        (tmp / MANIFEST).write_text(study.manifest_json())
        db.create(tmp / DATABASE, trials, {"format_version": "1"})
        replace_dir(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    study.root = out
    return study
