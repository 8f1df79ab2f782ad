"""The one place where `study create` compresses images: (image, codec, target bpps) -> reconstructions.

The study needs, per image and target rate, one decoded reconstruction per codec together with the
rate its real file reached. It reuses the evaluation suite exactly: the codec adapters of
`salicodec.baselines` and the per-image rate matching of `salicodec.evaluation.ratematch`, so the
images people judge are the ones `salicodec eval` measures. `Reconstructor` is the contract; tests
or other codecs can pass their own function to `create_study`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..errors import SalicodecError


@dataclass(frozen=True)
class Reconstruction:
    rgb: np.ndarray  # (H, W, 3) uint8, the decoded image shown to participants
    bpp: float  # bits per pixel of the real coded file that produced it
    setting: str  # the codec knob that reached the rate, for the record (e.g. "quality=37")


# (original RGB uint8 (H, W, 3), codec name, target bpps) -> one Reconstruction per target bpp
Reconstructor = Callable[[np.ndarray, str, list[float]], list[Reconstruction]]


def rate_matched_reconstruct(rgb: np.ndarray, codec: str, target_bpps: list[float]) -> list[Reconstruction]:
    """Rate-match `codec` on this image to every target, as `salicodec eval` does."""
    from ..baselines import make_codec
    from ..evaluation.ratematch import RateMatcher

    adapter = make_codec(codec)
    adapter.check_available()
    # One matcher per (image, codec): its memoised encodes are shared by all the target rates.
    matcher = RateMatcher(lambda v: adapter.encode(rgb, v), adapter.parameter, rgb.shape[0] * rgb.shape[1])
    out = []
    for target in target_bpps:
        m = matcher.match(target)
        decoded = adapter.decode(m.data)
        if decoded.shape != rgb.shape:
            raise SalicodecError(f"codec {codec}: decoded image has shape {decoded.shape}, expected {rgb.shape}")
        note = "" if m.reachable else " (target out of the codec's range)"
        out.append(Reconstruction(decoded, m.bpp, f"{adapter.parameter.name}={m.value:g}{note}"))
    return out


def check_codecs(codecs: list[str]) -> None:
    """Fail early, before any encoding, on an unknown or unavailable codec."""
    from ..baselines import make_codec

    for name in codecs:
        make_codec(name).check_available()


def default_reconstructor() -> Reconstructor:
    return rate_matched_reconstruct
