"""Training data: folders of photos, random crops and flips, cached saliency masks.

Crops are drawn from a generator seeded by (seed, step, rank), so a resumed run sees exactly the
batches an uninterrupted one would have seen, without saving any random state.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..errors import SalicodecError
from ..imageio import IMAGE_SUFFIXES, load_rgb, shared_dir



def list_images(dirs: list[str | Path]) -> list[Path]:
    files = []
    for d in dirs:
        d = Path(d)
        if not d.is_dir():
            raise SalicodecError(f"training data folder {d} does not exist")
        files += sorted(p for p in d.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise SalicodecError("no training images found")
    return files


def file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def evaluation_digests() -> set[str]:
    """Content hashes of the evaluation images (Kodak, COCO mini): these must never be trained on."""
    root = shared_dir() / "data"
    out = set()
    for sub in ("kodak", "coco_val_mini/images"):
        d = root / sub
        if d.is_dir():
            out |= {file_digest(p) for p in d.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES}
    return out


def check_no_evaluation_images(files: list[Path]) -> None:
    banned = evaluation_digests()
    for f in files:
        if "kodak" in f.name.lower() or "kodim" in f.name.lower() or file_digest(f) in banned:
            raise SalicodecError(f"{f} is an evaluation image; refusing to train on it")


def load_or_compute_saliency(path: Path, rgb: np.ndarray, cache: Path | None) -> np.ndarray:
    """Probability map (H, W) float32 in [0, 1] from the saliency model, cached by file content
    in the same cache layout as `salicodec saliency --batch` (so either can fill it)."""
    from ..imageio import atomic_write_bytes
    from ..saliency import saliency_map
    from ..saliency.batch import encode_mask_png, load_cached_mask, mask_path_for

    if cache is not None:
        prob = load_cached_mask(path, cache)
        if prob is not None:
            return prob
    prob = saliency_map(rgb).astype(np.float32)
    if cache is not None:
        cache.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(mask_path_for(path, cache), encode_mask_png(prob), force=True)
    return prob


@dataclass
class TrainImage:
    rgb: np.ndarray  # (H, W, 3) uint8
    saliency: np.ndarray | None  # (H, W) uint8 probability * 255, or None


class CropSampler:
    """Random crops with horizontal flips; every image is held in memory (the sets here are small)."""

    def __init__(self, files: list[Path], crop: int, use_saliency: bool, saliency_cache: Path | None):
        self.crop = crop
        self.images: list[TrainImage] = []
        for f in files:
            rgb = load_rgb(f)
            if min(rgb.shape[:2]) < crop:
                continue
            sal = None
            if use_saliency:
                sal = np.round(load_or_compute_saliency(f, rgb, saliency_cache) * 255).astype(np.uint8)
            self.images.append(TrainImage(rgb, sal))
        if not self.images:
            raise SalicodecError(f"no training image is at least {crop}x{crop}")

    def batch(self, batch_size: int, seed: int, step: int, rank: int = 0):
        """(x (N,3,c,c) float [0,1], s (N,1,c,c) float [0,1] or None) for this step."""
        rng = np.random.default_rng([seed, step, rank])
        c = self.crop
        xs, ss = [], []
        for _ in range(batch_size):
            im = self.images[int(rng.integers(len(self.images)))]
            h, w = im.rgb.shape[:2]
            top, left = int(rng.integers(h - c + 1)), int(rng.integers(w - c + 1))
            flip = bool(rng.integers(2))
            x = im.rgb[top : top + c, left : left + c]
            s = im.saliency[top : top + c, left : left + c] if im.saliency is not None else None
            if flip:
                x = x[:, ::-1]
                s = s[:, ::-1] if s is not None else None
            xs.append(np.ascontiguousarray(x))
            if s is not None:
                ss.append(np.ascontiguousarray(s))
        x = torch.from_numpy(np.stack(xs)).permute(0, 3, 1, 2).float() / 255.0
        s = torch.from_numpy(np.stack(ss))[:, None].float() / 255.0 if ss else None
        return x, s
