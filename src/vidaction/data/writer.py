"""Write RGB frames to video files with PyAV (synthetic data, tests, visualisations, annotated streams).

:class:`VideoWriter` encodes frames one at a time (the size is the first frame's);
:func:`write_video` encodes a whole array through it.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np


class VideoWriter:
    """RGB frames ``uint8 (H, W, 3)`` encoded one at a time at a constant ``fps`` (frame ``i`` has pts
    ``i``, ``time_base = 1/fps``); ``close()`` (or the context manager) finishes the file.

    ``crf``: x264's quality (``None``: the codec's default). ``reproducible`` encodes the same frames to
    the same bytes, as synthetic datasets must be: x264 on one thread and without its macroblock-tree
    rate control (``mbtree=0``); with several threads, or with mbtree (which, on the libx264 PyAV ships,
    read memory left over from earlier work), the same frames gave different bitstreams and decoded
    pixels from run to run. Without it the codec uses its own threads (a live stream's annotated copy).
    """

    def __init__(self, path: str | Path, fps: float = 25.0, codec: str = "libx264", crf: int | None = 18,
                 reproducible: bool = True) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.codec, self.crf, self.reproducible = codec, crf, reproducible
        self.rate = Fraction(fps).limit_denominator(1001)
        self.container = av.open(str(self.path), mode="w")
        self.stream = None
        self.frames = 0

    def _open_stream(self, height: int, width: int) -> None:
        self.stream = self.container.add_stream(self.codec, rate=self.rate)
        self.stream.width = width
        self.stream.height = height
        self.stream.pix_fmt = "yuv420p"
        self.stream.codec_context.time_base = 1 / self.rate
        if self.reproducible:
            self.stream.codec_context.thread_count = 1
        if self.codec == "libx264":
            options = {"preset": "veryfast"}
            if self.crf is not None:
                options["crf"] = str(self.crf)
            if self.reproducible:
                options["x264-params"] = "mbtree=0"
            self.stream.options = options

    def write(self, image: np.ndarray) -> None:
        if self.stream is None:
            self._open_stream(*image.shape[:2])
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
        frame.pts, frame.time_base = self.frames, 1 / self.rate
        for packet in self.stream.encode(frame):
            self.container.mux(packet)
        self.frames += 1

    def close(self) -> None:
        if self.stream is not None:
            for packet in self.stream.encode():
                self.container.mux(packet)
        self.container.close()

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def write_video(path: str | Path, frames: np.ndarray, fps: float = 25.0, codec: str = "libx264",
                crf: int = 18) -> Path:
    """Encode ``frames`` ``(T, H, W, 3) uint8`` RGB to ``path`` reproducibly (:class:`VideoWriter`);
    H and W must be even for H.264."""
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"frames must be (T, H, W, 3) uint8, got {frames.shape} {frames.dtype}")
    if frames.shape[0] == 0:
        raise ValueError("cannot write a video with zero frames")
    height, width = frames.shape[1:3]
    if codec == "libx264" and (height % 2 or width % 2):
        raise ValueError(f"H.264 needs even frame sizes, got {height}x{width}")
    with VideoWriter(path, fps, codec, crf) as writer:
        for image in frames:
            writer.write(image)
    return Path(path)
