"""salicodec: a learned, saliency-driven perceptual image codec and its toolkit."""
__version__ = "0.1.0"
