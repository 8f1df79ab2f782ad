"""Encoder analyses made on one machine and coded on another: the split encoder.

The latent search with the paper's full distortion (`--refine-dpl`, models/refine.py) costs
about 35 s a step for one Kodak image on a 2-core CPU (VGG-16 forward and backward), an hour an
image at 100 steps; a GPU takes well under a second a step. The lent GPU machine has no range
coder (constriction), so the encoder is split at the hard symbols (`SaliCodec.encode_indices`):
the *analysis* (saliency, E1, the channel counts k1, the search) only chooses y~, the *coding*
(E2 -> z~, both context models, the range coder) runs where the decoder's arithmetic is. A
file coded from an analysis decodes exactly, wherever the analysis was made; what the analysis
machine changes is only which (equally decodable) symbols were chosen.

An analysis set is one .npz per model (`np.savez_compressed`, read without pickles):

    meta          uint8, the bytes of a JSON object: format, model, weights_hash (hex of the
                  model's 8-byte weights hash), refine, refine_dpl, device, torch, and per image
                  key: name, width, height, seconds, and the search's statistics
    <key>.y_idx   uint8 (C, H/8, W/8): indices into the model's sorted centres
    <key>.k1      uint8 (H/8, W/8): channel counts

<key> is `image_key(rgb)`, a hash of the image's pixels, so the evaluation finds an image's
analysis by content whatever its file is called. Made by `benchmarks/analyse_images.py`, used
by `salicodec eval … --analyses DIR` (the `ours-refine<N>[dpl]` entries code from the set of
each model instead of searching).
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import re
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import SalicodecError

FORMAT = "salicodec-analyses-1"
_KEY = re.compile(r"[0-9a-f]{16}")
MAX_META_BYTES = 1 << 20
# Largest array a set may hold once inflated: y~ of a 16384 x 16384 image with 64 channels is
# 256 MB; a compressed member that claims more is refused before it is inflated.
MAX_ARRAY_BYTES = 1 << 28


def image_key(rgb: np.ndarray) -> str:
    """16 hex digits of the sha256 of an (H, W, 3) uint8 image's shape and pixels."""
    a = np.ascontiguousarray(rgb, dtype=np.uint8)
    h = hashlib.sha256(repr(a.shape).encode())
    h.update(a.tobytes())
    return h.hexdigest()[:16]


@dataclass
class AnalysisSet:
    """The analyses of one model: meta (see the module docstring) and key -> (y_idx, k1)."""

    meta: dict
    entries: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)

    @classmethod
    def new(cls, model: str, weights_hash: bytes, refine: int, refine_dpl: bool, device: str) -> "AnalysisSet":
        import torch

        return cls({"format": FORMAT, "model": model, "weights_hash": weights_hash.hex(), "refine": int(refine),
                    "refine_dpl": bool(refine_dpl), "device": device, "torch": torch.__version__, "images": {}})

    def add(self, key: str, y_idx: np.ndarray, k1: np.ndarray, info: dict) -> None:
        self.entries[key] = (np.ascontiguousarray(y_idx, dtype=np.uint8), np.ascontiguousarray(k1, dtype=np.uint8))
        self.meta["images"][key] = info

    def save(self, path: str | os.PathLike) -> None:
        """Written to a temporary file and renamed: a reader never sees half a set."""
        path = Path(path)
        arrays = {"meta": np.frombuffer(json.dumps(self.meta, sort_keys=True).encode(), dtype=np.uint8)}
        for key, (y_idx, k1) in self.entries.items():
            arrays[f"{key}.y_idx"], arrays[f"{key}.k1"] = y_idx, k1
        tmp = path.with_name(path.name + ".tmp")
        with open(tmp, "wb") as f:
            np.savez_compressed(f, **arrays)
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "AnalysisSet":
        """Read a set defensively: any malformed content is one SalicodecError naming the file."""
        path = Path(path)
        try:
            data = path.read_bytes()
            with np.load(io.BytesIO(data), allow_pickle=False) as z:
                if any(i.file_size > MAX_ARRAY_BYTES for i in z.zip.infolist()):
                    raise ValueError("an array is larger than any image's analysis")
                names = set(z.files)
                if "meta" not in names:
                    raise ValueError("no meta record")
                raw = z["meta"]
                if raw.dtype != np.uint8 or raw.ndim != 1 or raw.size > MAX_META_BYTES:
                    raise ValueError("meta is not a JSON byte string")
                meta = json.loads(raw.tobytes().decode())
                if not isinstance(meta, dict) or meta.get("format") != FORMAT:
                    raise ValueError(f"not a {FORMAT} file")
                for k, t in (("model", str), ("weights_hash", str), ("refine", int), ("refine_dpl", bool),
                             ("images", dict)):
                    if not isinstance(meta.get(k), t):
                        raise ValueError(f"meta field {k!r} missing or not a {t.__name__}")
                entries = {}
                for key in meta["images"]:
                    if not _KEY.fullmatch(key) or f"{key}.y_idx" not in names or f"{key}.k1" not in names:
                        raise ValueError(f"image {key!r} has no arrays")
                    y_idx, k1 = z[f"{key}.y_idx"], z[f"{key}.k1"]
                    if (y_idx.dtype != np.uint8 or k1.dtype != np.uint8 or y_idx.ndim != 3 or k1.ndim != 2
                            or y_idx.shape[1:] != k1.shape):
                        raise ValueError(f"image {key}: arrays of the wrong type or shape")
                    entries[key] = (y_idx, k1)
        except (OSError, ValueError, KeyError, UnicodeDecodeError, zipfile.BadZipFile, EOFError) as e:
            raise SalicodecError(f"{path}: not a readable analysis set ({e})") from None
        return cls(meta, entries)


def set_path(directory: str | os.PathLike, model: str) -> Path:
    return Path(directory) / f"{model}.npz"


def analyse_image(net, rgb: np.ndarray, saliency: np.ndarray | None, refine: int, perceptual=None,
                  device="cpu") -> tuple[np.ndarray, np.ndarray, dict]:
    """The encoder's analysis of one image on `device` (net and perceptual already there):
    (y_idx (C, H/8, W/8) uint8, k1 (H/8, W/8) uint8, info). saliency: the (H, W) probability
    map as `compress(saliency=...)` takes it, or None for no salient region."""
    import torch

    from ..api import encoder_input

    h, w = rgb.shape[:2]
    x, s = encoder_input(rgb, saliency if saliency is not None else "none")
    x = x.to(device)
    s = s.to(device) if s is not None else None
    t0 = time.perf_counter()
    with torch.no_grad():
        a = net._analysis(x, s, refine, valid=(h, w), refine_perceptual=perceptual)
    if x.device.type == "cuda":
        torch.cuda.synchronize()
    info = {"width": int(w), "height": int(h), "seconds": round(time.perf_counter() - t0, 3)}
    if a.get("refine") is not None:
        r = a["refine"]
        info.update(bits_before=r.bits_before, bits_after=r.bits_after,
                    distortion_before=r.distortion_before, distortion_after=r.distortion_after)
    return (a["y_idx"][0].cpu().numpy().astype(np.uint8), a["k1"][0].cpu().numpy().astype(np.uint8), info)


def compress_from_analysis(rgb: np.ndarray, analyses: AnalysisSet, model=None) -> bytes:
    """The .sali bytes of image `rgb` coded from its analysis in `analyses` (here, on this
    machine's range coder): the same container `salicodec.compress` writes. model: a SaliCodec
    to code with instead of the shipped model the set names (its weights must be the set's)."""
    import torch

    from .. import container
    from ..api import _as_loaded, resolve_model, latent_grid, pack_file

    loaded = _as_loaded(rgb)
    h, w = loaded.rgb.shape[:2]
    container.check_dimensions(w, h)
    net, name = resolve_model(model if model is not None else analyses.meta["model"], None)
    if net.weights_hash().hex() != analyses.meta["weights_hash"]:
        raise SalicodecError(f"the analyses of {name} were made with other weights than the shipped ones")
    key = image_key(loaded.rgb)
    if key not in analyses.entries:
        raise SalicodecError(f"no analysis of this image ({w}x{h}, key {key}) for model {name}")
    y_idx, k1 = analyses.entries[key]
    gh, gw = latent_grid(h, w)
    if y_idx.shape != (net.cfg.channels, gh, gw):
        raise SalicodecError(f"the analysis of image {key} has shape {y_idx.shape}, "
                             f"the model codes ({net.cfg.channels}, {gh}, {gw})")
    try:
        code = net.encode_indices(torch.from_numpy(y_idx.astype(np.int64))[None],
                                  torch.from_numpy(k1.astype(np.int64))[None])
    except ValueError as e:
        raise SalicodecError(f"the analysis of image {key} is inconsistent: {e}") from None
    return pack_file(net, name, code, loaded)


__all__ = ["AnalysisSet", "image_key", "set_path", "analyse_image", "compress_from_analysis", "FORMAT"]
