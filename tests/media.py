"""Real media written by the tests with PyAV: gray-ramp videos whose frame ``i`` is uniformly gray at
level ``STEP * i`` (decoded frames reveal their index), the encoder, a re-muxer that rewrites
timestamps, and the reference decode of a whole file."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np

STEP = 5


def gray_ramp(num_frames: int, height: int = 32, width: int = 32) -> np.ndarray:
    """``(num_frames, height, width, 3) uint8``, frame ``i`` at gray level ``STEP * i``."""
    if STEP * (num_frames - 1) > 255:
        raise ValueError(f"at most {255 // STEP + 1} ramp frames")
    levels = (np.arange(num_frames) * STEP).astype(np.uint8)
    return np.broadcast_to(levels[:, None, None, None], (num_frames, height, width, 3)).copy()


def frame_ids(frames) -> list[int]:
    """The ramp index of each frame of ``(T, H, W, 3)`` (numpy or torch), robust to compression."""
    return [int(round(float(np.asarray(frame, dtype=np.float64).mean()) / STEP)) for frame in frames]


def encode(path: Path, frames: np.ndarray, pts: list[int] | None = None, codec: str = "libx264", rate: int = 25,
           options: dict[str, str] | None = None, container_options: dict[str, str] | None = None,
           pix_fmt: str = "yuv420p", rotation: int = 0, threads: int = 0) -> Path:
    """Write ``frames`` with PyAV, frame ``i`` at ``pts[i]`` (default ``i``) in time base ``1/rate``;
    ``options`` go to the encoder, ``container_options`` to the muxer, ``rotation`` (degrees) is
    display-matrix metadata, ``threads`` the encoder's threads (0: FFmpeg's choice)."""
    time_base = Fraction(1, rate)
    with av.open(str(path), "w", options=container_options or {}) as container:
        stream = container.add_stream(codec, rate=rate)
        stream.height, stream.width = frames.shape[1:3]
        stream.pix_fmt = pix_fmt
        stream.codec_context.time_base = time_base
        stream.options = options or {}
        if threads:
            stream.codec_context.thread_count = threads
        if rotation:
            stream.set_display_rotation(rotation)
        for i, image in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
            frame.pts, frame.time_base = (pts[i] if pts else i), time_base
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def decode_all(path: Path) -> np.ndarray:
    """Every frame PyAV outputs decoding ``path`` in order, ``(T, H, W, 3) uint8``: the reference."""
    with av.open(str(path)) as container:
        return np.stack([frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)])


def remux(source: Path, path: Path, retime) -> Path:
    """``source``'s video packets in a new container, packet ``k`` (decode order, timestamps shifted to
    start at 0) getting ``(pts, dts) = retime(k, pts, dts)``."""
    with av.open(str(source)) as reader, av.open(str(path), "w") as writer:
        stream = reader.streams.video[0]
        copy = writer.add_stream_from_template(stream)
        packets = [packet for packet in reader.demux(stream) if packet.dts is not None]
        base = packets[0].dts
        for k, packet in enumerate(packets):
            packet.pts, packet.dts = retime(k, packet.pts - base, packet.dts - base)
            packet.stream = copy
            writer.mux(packet)
    return path
