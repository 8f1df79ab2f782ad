"""Standard image codecs as benchmark entries, one module per codec, plus our own codec.

`make_codec(name)` builds an adapter by name; `STANDARD_CODECS` is what `--codecs standard` means.
Adapters import their optional library lazily, so a missing one is reported by
`check_available()` (CodecUnavailable with the reason) and never breaks the others.
"""
from __future__ import annotations

import os
import re

from ..errors import SalicodecError
from .avif import Avif
from .base import CodecUnavailable, QualityParameter, StandardCodec
from .heic import HeicX265
from .jpeg import PillowJpeg
from .jpeg2000 import OpenJpeg2000
from .jxl import JpegXl
from .mozjpeg import MozJpeg
from .msroi import MsroiJpeg
from .ours import ANALYSES_ENV, Salicodec
from .webp import WebP

FACTORIES = {
    "heic": HeicX265,
    "avif": Avif,
    "jxl": JpegXl,
    "jpeg2000": OpenJpeg2000,
    "webp": WebP,
    "jpeg-420": lambda: PillowJpeg("4:2:0"),
    "jpeg-444": lambda: PillowJpeg("4:4:4"),
    "mozjpeg": MozJpeg,
    "msroi-jpeg": MsroiJpeg,
    "ours": Salicodec,
}
STANDARD_CODECS = ["heic", "avif", "jxl", "jpeg2000", "webp", "jpeg-420", "jpeg-444", "mozjpeg"]
REFERENCE_CODEC = "heic"  # BD-rates are against HEIC, the BPG stand-in


_OURS = re.compile(r"ours(?:-refine([1-9][0-9]{0,3})(dpl)?)?(-nosal)?(?::(.+))?")


def make_codec(name: str):
    ours = _OURS.fullmatch(name)
    if ours:  # ours, ours-refine<N>[dpl], each with -nosal and/or :<model>
        return Salicodec(model=ours.group(4), refine=int(ours.group(1) or 0), refine_dpl=bool(ours.group(2)),
                         analyses=os.environ.get(ANALYSES_ENV) or None,
                         saliency="none" if ours.group(3) else "auto")
    if name not in FACTORIES:
        raise SalicodecError(f"unknown codec {name!r} (known: {', '.join(FACTORIES)}, ours[:<model>], "
                             "ours-refine<N>[dpl][:<model>], ours[-refine<N>[dpl]]-nosal[:<model>])")
    return FACTORIES[name]()


def expand_codec_list(spec: str) -> list[str]:
    """'standard', 'all', or a comma list; 'all' = standard codecs + ours."""
    names: list[str] = []
    for part in [p.strip() for p in spec.split(",") if p.strip()]:
        if part == "standard":
            names += STANDARD_CODECS
        elif part == "all":
            names += STANDARD_CODECS + ["ours"]
        else:
            make_codec(part)  # validates the name
            names.append(part)
    if not names:
        raise SalicodecError("no codecs given")
    return list(dict.fromkeys(names))


__all__ = ["CodecUnavailable", "QualityParameter", "StandardCodec", "Salicodec", "make_codec",
           "expand_codec_list", "STANDARD_CODECS", "REFERENCE_CODEC"]
