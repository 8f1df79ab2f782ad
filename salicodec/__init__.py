"""salicodec: a learned, saliency-driven perceptual image codec and its toolkit.

    data = salicodec.compress(Image.open("photo.png"), bpp=0.37, saliency="auto")
    image = salicodec.decompress(data)          # or PIL.Image.open("photo.sali")
"""
__version__ = "0.1.0"


def compress(image, model=None, **kwargs):
    """See salicodec.api.compress."""
    from .api import compress as _compress

    return _compress(image, model, **kwargs)


def decompress(data, model=None):
    """See salicodec.api.decompress."""
    from .api import decompress as _decompress

    return _decompress(data, model)


def _register_pillow_plugin() -> None:
    try:
        from .pillow_plugin import register
    except ImportError:  # Pillow missing: the codec API still imports
        return
    register()


_register_pillow_plugin()
