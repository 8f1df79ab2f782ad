"""Training of the codec (paper Sec. 3.5): data, losses, the resumable loop."""
