"""Our learned codec as a benchmark entry: every shipped model is one rate point.

It reads the model registry (`salicodec.models.zoo.list_models()`, entries with `.name` and
`.target_bpp`) and codes through the public API (`salicodec.compress` / `salicodec.decompress`),
exactly as a user would. Nothing is rate-matched: a model's rate is what it achieves, recorded
beside its nominal target. `ours:<model>` restricts the entry to one model (any shipped one,
superseded included, so that earlier rows can be measured again); `ours-refine<N>`
(and `ours-refine<N>:<model>`) is the same family with N steps of encoder-side latent refinement
(`compress(..., refine=N)`, models/refine.py), a curve of its own; `-nosal` (`ours-nosal`,
`ours-refine<N>-nosal`, each with `:<model>`) codes with `saliency='none'` (no salient-object
mask: the channel mask from the importance map alone, Eq. 9 with s = 0), the shipped models'
other mode. With `analyses`, a folder of
analysis sets (`salicodec eval --analyses DIR`, evaluation/analyses.py), a refining entry codes
each image from the symbols its search chose on another machine (e.g. the GPU) instead of
searching here; the files are coded and decoded here all the same.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import SalicodecError
from .base import CodecUnavailable

ANALYSES_ENV = "SALICODEC_ANALYSES"  # how `salicodec eval --analyses DIR` reaches worker processes
UNAVAILABLE = "salicodec codec not available (salicodec.compress/decompress and models.zoo are not in this build)"


@dataclass(frozen=True)
class RatePoint:
    setting: str  # the model name
    nominal_bpp: float


class Salicodec:
    extension = "sali"

    def __init__(self, model: str | None = None, refine: int = 0, refine_dpl: bool = False,
                 analyses: str | os.PathLike | None = None, saliency: str = "auto"):
        if saliency not in ("auto", "none"):
            raise SalicodecError(f"saliency must be 'auto' or 'none', not {saliency!r}")
        if analyses and refine and saliency != "auto":  # analyse_images.py searches with the masks
            raise SalicodecError("analysis sets hold searches with saliency 'auto': no -nosal entry with --analyses")
        self.model = model
        self.saliency = saliency
        self.analyses = Path(analyses) if analyses and refine else None
        self._sets: dict = {}
        self.refine = refine
        self.refine_dpl = refine_dpl  # the search's D: MSE + DPL (Eq. 13) instead of MSE
        family = "ours" if not refine else f"ours-refine{refine}" + ("dpl" if refine_dpl else "")
        family += "-nosal" if saliency == "none" else ""
        self.name = family if model is None else f"{family}:{model}"
        self.settings = ("every shipped model" if model is None else f"model {model}") + f", saliency={saliency!r}"
        if refine:
            self.settings += f", refine={refine}" + (", refine_dpl=True" if refine_dpl else "")
        if self.analyses is not None:
            self.settings += f", symbols from the analyses in {self.analyses} (encode time: coding only)"

    def _analysis_set(self, model: str):
        """The model's analysis set, checked against this entry's search settings (loaded once)."""
        if model not in self._sets:
            from ..evaluation.analyses import AnalysisSet, set_path

            path = set_path(self.analyses, model)
            if not path.is_file():
                raise CodecUnavailable(f"{self.name}: no analysis set {path}")
            aset = AnalysisSet.load(path)
            m = aset.meta
            if m["model"] != model or m["refine"] != self.refine or m["refine_dpl"] != self.refine_dpl:
                raise CodecUnavailable(f"{self.name}: {path} holds model {m['model']}, refine={m['refine']}, "
                                       f"refine_dpl={m['refine_dpl']}")
            self._sets[model] = aset
        return self._sets[model]

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
        # a named model may be a superseded one (the rows it made stay reproducible)
        if self.model is not None and self.model not in [m.name for m in list_models(include_superseded=True)]:
            raise CodecUnavailable(f"salicodec codec: no shipped model named {self.model!r}")
        if self.analyses is not None:
            for p in self.rate_points():
                self._analysis_set(p.setting)

    def rate_points(self) -> list[RatePoint]:
        _, _, list_models = self._api()
        points = [RatePoint(m.name, float(m.target_bpp)) for m in list_models(include_superseded=self.model is not None)]
        if self.model is not None:
            points = [p for p in points if p.setting == self.model]
        return sorted(points, key=lambda p: p.nominal_bpp)

    def library_version(self) -> str:
        import salicodec

        return f"salicodec {salicodec.__version__}"

    def describe(self) -> dict:
        settings = self.settings
        if self.analyses is not None:  # where the symbols were chosen (another machine's floats)
            made = sorted({f"{s.meta.get('device', '?')}, torch {s.meta.get('torch', '?')}" for s in self._sets.values()})
            if made:
                settings += f" (searched on {'; '.join(made)})"
        return {"name": self.name, "extension": self.extension, "parameter": "model",
                "settings": settings, "version": self.library_version()}

    def encode(self, rgb: np.ndarray, setting: str) -> bytes:
        compress, _, _ = self._api()
        if self.analyses is not None:
            from ..evaluation.analyses import compress_from_analysis

            return compress_from_analysis(rgb, self._analysis_set(setting))
        return compress(rgb, model=setting, saliency=self.saliency, refine=self.refine, refine_dpl=self.refine_dpl)

    def decode(self, data: bytes) -> np.ndarray:
        _, decompress, _ = self._api()
        return np.ascontiguousarray(np.asarray(decompress(data).convert("RGB")))
