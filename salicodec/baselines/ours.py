"""Our learned codec as a benchmark entry: every shipped model is one rate point.

It reads the model registry (`salicodec.models.zoo.list_models()`, entries with `.name` and
`.target_bpp`) and codes through the public API (`salicodec.compress` / `salicodec.decompress`),
exactly as a user would. Nothing is rate-matched: a model's rate is what it achieves, recorded
beside its nominal target. `ours:<model>` restricts the entry to one model; `ours-refine<N>`
(and `ours-refine<N>:<model>`) is the same family with N steps of encoder-side latent refinement
(`compress(..., refine=N)`, models/refine.py), a curve of its own.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .base import CodecUnavailable

UNAVAILABLE = "salicodec codec not available (salicodec.compress/decompress and models.zoo are not in this build)"


@dataclass(frozen=True)
class RatePoint:
    setting: str  # the model name
    nominal_bpp: float


class Salicodec:
    extension = "sali"

    def __init__(self, model: str | None = None, refine: int = 0, refine_dpl: bool = False):
        self.model = model
        self.refine = refine
        self.refine_dpl = refine_dpl  # the search's D: MSE + DPL (Eq. 13) instead of MSE
        family = "ours" if not refine else f"ours-refine{refine}" + ("dpl" if refine_dpl else "")
        self.name = family if model is None else f"{family}:{model}"
        self.settings = "every shipped model, saliency='auto'" if model is None else f"model {model}, saliency='auto'"
        if refine:
            self.settings += f", refine={refine}" + (", refine_dpl=True" if refine_dpl else "")

    def _api(self):
        try:
            import salicodec
            from salicodec.models import zoo

            return salicodec.compress, salicodec.decompress, zoo.list_models
        except (ImportError, AttributeError):
            raise CodecUnavailable(UNAVAILABLE) from None

    def check_available(self) -> None:
        _, _, list_models = self._api()
        models = list_models()
        if not models:
            raise CodecUnavailable("salicodec codec: no shipped models in the registry")
        if self.model is not None and self.model not in [m.name for m in models]:
            raise CodecUnavailable(f"salicodec codec: no shipped model named {self.model!r}")

    def rate_points(self) -> list[RatePoint]:
        _, _, list_models = self._api()
        points = [RatePoint(m.name, float(m.target_bpp)) for m in list_models()]
        if self.model is not None:
            points = [p for p in points if p.setting == self.model]
        return sorted(points, key=lambda p: p.nominal_bpp)

    def library_version(self) -> str:
        import salicodec

        return f"salicodec {salicodec.__version__}"

    def describe(self) -> dict:
        return {"name": self.name, "extension": self.extension, "parameter": "model",
                "settings": self.settings, "version": self.library_version()}

    def encode(self, rgb: np.ndarray, setting: str) -> bytes:
        compress, _, _ = self._api()
        return compress(rgb, model=setting, refine=self.refine, refine_dpl=self.refine_dpl)

    def decode(self, data: bytes) -> np.ndarray:
        _, decompress, _ = self._api()
        return np.ascontiguousarray(np.asarray(decompress(data).convert("RGB")))
