"""Reading and writing images for every part of salicodec: one place that handles modes.

Input images become RGB uint8 arrays (H, W, 3): EXIF orientation applied, greyscale expanded to
RGB (and remembered, so the codec can give greyscale back), 16-bit reduced to 8-bit with a warning.
Alpha is refused with a clear message: the codec does not code it, and silently dropping it would
lose data the user may care about.
"""
from __future__ import annotations

import os
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import SalicodecError

# Image files the batch tools (training, saliency precomputation, evaluation) pick up in folders.
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm"})

# Decompression-bomb guard for inputs: 64 megapixels (e.g. 8192 x 8192).
MAX_INPUT_PIXELS = 1 << 26


@dataclass
class LoadedImage:
    rgb: np.ndarray  # (H, W, 3) uint8
    greyscale: bool  # the source had a single channel


def to_rgb_array(img: Image.Image) -> LoadedImage:
    """Convert a PIL image to RGB uint8 following the rules above."""
    try:
        img = ImageOps.exif_transpose(img)
    except Exception:  # noqa: BLE001 - a broken EXIF block must not stop decoding the pixels
        pass
    mode = img.mode
    if mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in img.info):
        raise SalicodecError(
            f"image has an alpha channel (mode {mode}); salicodec codes RGB only: "
            "flatten or drop the alpha first"
        )
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        warnings.warn("16-bit image reduced to 8 bits per sample", stacklevel=2)
        a = np.asarray(img).astype(np.float64)
        a = np.clip(np.round(a / 257.0), 0, 255).astype(np.uint8)
        return LoadedImage(np.repeat(a[:, :, None], 3, axis=2), True)
    if mode in ("L", "1"):
        a = np.asarray(img.convert("L"))
        return LoadedImage(np.repeat(a[:, :, None], 3, axis=2), True)
    if mode == "RGB":
        return LoadedImage(np.ascontiguousarray(np.asarray(img)), False)
    return LoadedImage(np.ascontiguousarray(np.asarray(img.convert("RGB"))), False)


def load_image(path: str | os.PathLike) -> LoadedImage:
    """Open an image file defensively; every failure becomes a one-line SalicodecError."""
    p = Path(path)
    if not p.exists():
        raise SalicodecError(f"{p}: no such file")
    if p.is_dir():
        raise SalicodecError(f"{p}: is a directory, not an image")
    try:
        with Image.open(p) as img:
            w, h = img.size
            if w * h > MAX_INPUT_PIXELS:
                raise SalicodecError(
                    f"{p}: {w}x{h} exceeds the limit of {MAX_INPUT_PIXELS:,} pixels"
                )
            img.load()
            return to_rgb_array(img)
    except SalicodecError:
        raise
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
        raise SalicodecError(f"{p}: not a readable image ({type(e).__name__}: {e})") from None


def load_rgb(path: str | os.PathLike) -> np.ndarray:
    return load_image(path).rgb


def _umask() -> int:
    """The process's umask. Linux shows it in /proc (read-only); elsewhere os.umask must set it to
    read it, which for a moment changes it for every thread, so that is the fallback only."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write_bytes(dest: str | os.PathLike, data: bytes, *, force: bool = False) -> None:
    """Write `data` to `dest` via a temporary file and a rename: never a partial output file."""
    dest = Path(dest)
    if dest.exists() and not force:
        raise SalicodecError(f"{dest}: exists (use --force to overwrite)")
    if dest.is_dir():
        raise SalicodecError(f"{dest}: is a directory")
    parent = dest.parent if str(dest.parent) else Path(".")
    if not parent.is_dir():
        raise SalicodecError(f"{parent}: no such directory")
    # mkstemp makes the file 0600; the output gets what open() would have given it (0666 less
    # the umask), or the mode of the file it replaces, so a web server or another user can read it.
    mode = (dest.stat().st_mode & 0o7777) if dest.exists() else (0o666 & ~_umask())
    fd, tmp = tempfile.mkstemp(dir=parent, prefix="." + dest.name + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            os.fchmod(f.fileno(), mode)
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def replace_dir(tmp: str | os.PathLike, dest: str | os.PathLike) -> None:
    """Publish a fully written folder `tmp` as `dest` (replacing it): readers never see half of one."""
    import shutil

    dest = Path(dest)
    if dest.exists():
        shutil.rmtree(dest)
    os.replace(tmp, dest)


def save_image(img: Image.Image, dest: str | os.PathLike, *, force: bool = False, format: str | None = None) -> None:
    """Save a PIL image atomically; the format follows the extension unless given."""
    import io

    fmt = format or Image.registered_extensions().get(Path(dest).suffix.lower())
    if fmt is None:
        raise SalicodecError(f"{dest}: unknown image extension (use .png)")
    buf = io.BytesIO()
    img.save(buf, format=fmt)
    atomic_write_bytes(dest, buf.getvalue(), force=force)


def shared_dir() -> Path:
    """The read-only shared data folder: $SALICODEC_SHARED, default ../shared beside the checkout."""
    env = os.environ.get("SALICODEC_SHARED")
    if env:
        return Path(env)
    return Path(__file__).resolve().parent.parent.parent / "shared"
