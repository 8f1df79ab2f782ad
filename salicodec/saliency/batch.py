"""Precomputing saliency masks for a folder of training images, cached by image content.

A mask is stored as `OUT/<sha256 of the image file's bytes>.png`, an 8-bit greyscale probability
map (value = round(255 p)) of the image's size. Keying by content means a renamed or copied image
is not computed again, and an edited one is. `OUT/saliency-cache.json` records the model and the
pre-processing version; a folder written by another model is refused rather than mixed.
`OUT/index.tsv` lists, for the last run, each image's path relative to the input folder, its key,
size and the salient fraction of its grid mask (default threshold and dilation).
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from ..errors import SalicodecError
from ..imageio import atomic_write_bytes, load_image
from .masks import grid_mask, salient_fraction
from .u2netp import model_identity, saliency_map

from ..imageio import IMAGE_SUFFIXES  # noqa: E402
CACHE_META = "saliency-cache.json"
INDEX = "index.tsv"


@dataclass
class BatchReport:
    computed: int = 0
    cached: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)  # (relative path, reason)


def content_key(image_file: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(image_file, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def mask_path_for(image_file: str | os.PathLike, cache_dir: str | os.PathLike) -> Path:
    """Where the cached mask of `image_file` is (or would be) in `cache_dir`."""
    return Path(cache_dir) / f"{content_key(image_file)}.png"


def load_cached_mask(image_file: str | os.PathLike, cache_dir: str | os.PathLike) -> np.ndarray | None:
    """The cached probability (H, W) float32 in [0, 1] of `image_file`, or None if not cached."""
    p = mask_path_for(image_file, cache_dir)
    if not p.is_file():
        return None
    with Image.open(p) as img:
        return np.asarray(img.convert("L"), dtype=np.float32) / 255.0


def _read_cached(mask_file: Path) -> np.ndarray | None:
    """A cached mask, or None when it cannot be read (then it is computed again)."""
    try:
        with Image.open(mask_file) as m:
            return np.asarray(m.convert("L"), dtype=np.float32) / 255.0
    except (OSError, ValueError, SyntaxError):
        return None


def encode_mask_png(prob: np.ndarray) -> bytes:
    q = np.clip(np.round(np.asarray(prob, dtype=np.float32) * 255.0), 0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(q).save(buf, format="PNG")  # mode L
    return buf.getvalue()


def list_images(in_dir: Path, exclude: Path | None = None) -> list[Path]:
    files = []
    for p in sorted(in_dir.rglob("*")):
        if exclude is not None and (p.resolve() == exclude or exclude in p.resolve().parents):
            continue
        if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES:
            files.append(p)
    return files


def _check_cache_meta(out_dir: Path, force: bool) -> None:
    meta_file = out_dir / CACHE_META
    ident = model_identity()
    if meta_file.is_file():
        try:
            old = json.loads(meta_file.read_text())
        except (OSError, ValueError):
            old = None
        if old != ident and not force:
            raise SalicodecError(
                f"{out_dir}: holds masks of another model or pre-processing ({meta_file.name}); "
                "use another --out folder or --force to recompute them all"
            )
    atomic_write_bytes(meta_file, (json.dumps(ident, indent=1) + "\n").encode(), force=True)


def precompute_masks(
    in_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    force: bool = False,
    progress: bool = True,
) -> BatchReport:
    """Compute (or reuse) the mask of every image under `in_dir` into `out_dir` (see module doc).

    Unreadable images are skipped with a warning and listed in the report; the caller decides
    whether that is an error (the CLI exits with status 2).
    """
    from tqdm import tqdm

    in_dir, out_dir = Path(in_dir), Path(out_dir)
    if not in_dir.is_dir():
        raise SalicodecError(f"{in_dir}: no such directory")
    if out_dir.exists() and not out_dir.is_dir():
        raise SalicodecError(f"{out_dir}: exists and is not a directory")
    files = list_images(in_dir, exclude=out_dir.resolve() if out_dir.exists() else None)
    if not files:
        raise SalicodecError(f"{in_dir}: no images found ({', '.join(sorted(IMAGE_SUFFIXES))})")
    out_dir.mkdir(parents=True, exist_ok=True)
    _check_cache_meta(out_dir, force)
    report = BatchReport()
    rows = []
    recomputed: set[str] = set()
    for f in tqdm(files, desc="saliency", unit="img", disable=not progress):
        rel = f.relative_to(in_dir).as_posix()
        key = content_key(f)
        dest = out_dir / f"{key}.png"
        try:
            prob = None
            if dest.is_file() and not (force and key not in recomputed):
                prob = _read_cached(dest)
                report.cached += prob is not None
            if prob is None:
                prob = saliency_map(load_image(f).rgb)
                atomic_write_bytes(dest, encode_mask_png(prob), force=True)
                recomputed.add(key)
                report.computed += 1
        except SalicodecError as e:
            warnings.warn(f"skipped {rel}: {e}", stacklevel=2)
            report.failed.append((rel, str(e)))
            continue
        frac = salient_fraction(grid_mask(prob))
        rows.append(f"{rel}\t{key}\t{prob.shape[1]}\t{prob.shape[0]}\t{frac:.4f}")
    index = "path\tsha256\twidth\theight\tsalient_fraction\n" + "".join(r + "\n" for r in rows)
    atomic_write_bytes(out_dir / INDEX, index.encode(), force=True)
    return report
