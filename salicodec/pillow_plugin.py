"""Pillow plugin: `PIL.Image.open("photo.sali")` decodes a salicodec file.

Registered when `salicodec` is imported. The extension is `.sali`; the format name is "SALI".
Decoding happens in `load()`: the header is parsed on open (size and mode are known without
running the model), the pixels come from `salicodec.decompress`.
"""
from __future__ import annotations

from PIL import Image, ImageFile

from . import container


def _accept(prefix: bytes) -> bool:
    return container.looks_like_sali(prefix)


class SaliImageFile(ImageFile.ImageFile):
    format = "SALI"
    format_description = "salicodec learned image codec"

    def _open(self) -> None:
        data = self.fp.read()
        try:
            f = container.unpack(data)
        except container.FormatError as e:
            raise SyntaxError(str(e)) from None
        self._data = data
        self._size = (f.width, f.height)
        self._mode = "L" if f.greyscale else "RGB"
        self.info["model"] = f.model
        self.tile = []

    def load(self):
        if getattr(self, "_decoded", None) is None:
            from .api import decompress

            img = decompress(self._data)
            self._decoded = img
            self.im = img.im
        return Image.Image.load(self)


def register() -> None:
    Image.register_open(SaliImageFile.format, SaliImageFile, _accept)
    Image.register_extension(SaliImageFile.format, ".sali")
    Image.register_mime(SaliImageFile.format, "image/x-sali")
