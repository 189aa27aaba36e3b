"""Write RGB frame arrays to video files with PyAV (synthetic data, tests, visualisations)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np


def write_video(path: str | Path, frames: np.ndarray, fps: float = 25.0, codec: str = "libx264",
                crf: int = 18) -> Path:
    """Encode ``frames`` ``(T, H, W, 3) uint8`` RGB to ``path``; H and W must be even for H.264.

    A constant frame rate ``fps`` is written (``time_base = 1/fps``) so frame ``i`` has pts ``i``.
    Encoding is reproducible, as synthetic datasets must be: x264 runs on one thread and without its
    macroblock-tree rate control (``mbtree=0``); with several threads, or with mbtree (which, on the
    libx264 PyAV ships, read memory left over from earlier work), the same frames gave different
    bitstreams and decoded pixels from run to run.
    """
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"frames must be (T, H, W, 3) uint8, got {frames.shape} {frames.dtype}")
    if frames.shape[0] == 0:
        raise ValueError("cannot write a video with zero frames")
    height, width = frames.shape[1:3]
    if codec == "libx264" and (height % 2 or width % 2):
        raise ValueError(f"H.264 needs even frame sizes, got {height}x{width}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    rate = Fraction(fps).limit_denominator(1001)
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream(codec, rate=rate)
        stream.width = width
        stream.height = height
        stream.pix_fmt = "yuv420p"
        stream.codec_context.time_base = 1 / rate
        stream.codec_context.thread_count = 1
        if codec == "libx264":
            stream.options = {"crf": str(crf), "preset": "veryfast", "x264-params": "mbtree=0"}
        for index, image in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
            frame.pts = index
            frame.time_base = 1 / rate
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path
