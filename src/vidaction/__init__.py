"""vidaction: video action recognition and temporal action detection in plain PyTorch."""

__version__ = "0.1.0"
