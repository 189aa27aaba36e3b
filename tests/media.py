"""Real media written by the tests with PyAV: gray-ramp videos whose frame ``i`` is uniformly gray at
level ``STEP * i`` (decoded frames reveal their index), the encoder, a DivX-style packed-bitstream
AVI writer, a re-muxer that rewrites timestamps, and the reference decode of a whole file."""

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


def n_vop(time_increment_bits: int = 5) -> bytes:
    """An MPEG-4 Part 2 'not coded' P-VOP: the placeholder packed bitstreams put after a packed pair."""
    bits = "01" + "0" + "1" + "0" * time_increment_bits + "1" + "0"
    bits += "0" + "1" * (-(len(bits) + 1) % 8)
    return b"\x00\x00\x01\xb6" + int(bits, 2).to_bytes(len(bits) // 8, "big")


def packed_avi(path: Path, frames: np.ndarray, rate: int = 25, gop: int = 8, qmax: int = 2) -> Path:
    """MPEG-4 ASP in AVI with DivX/XviD-style packed B-frames (UCF101's files): each B-frame rides in
    the packet of the reference frame decoded before it, an N-VOP fills its slot, a ``DivX503b1393p``
    user-data string marks the stream packed, and every chunk's timestamp is its position. A keyframe
    every ``gop`` frames (no scene-cut keyframes), quantiser 1 to ``qmax``; ``rate`` fps (N-VOPs assume 17-32)."""
    time_base = Fraction(1, rate)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=rate)
        stream.height, stream.width = frames.shape[1:3]
        stream.pix_fmt = "yuv420p"
        stream.codec_context.time_base = time_base
        stream.options = {"bf": "1", "g": str(gop), "qmin": "1", "qmax": str(qmax), "sc_threshold": "1000000000"}
        encoded = []
        for i, image in enumerate([*frames, None]):
            frame = None
            if image is not None:
                frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
                frame.pts, frame.time_base = i, time_base
            encoded += [(bytes(packet), packet.pts, packet.is_keyframe) for packet in stream.encode(frame)]
        chunks: list[tuple[bytes, bool]] = []
        shown = -1
        for data, pts, key in encoded:
            if pts < shown:
                chunks[-1] = (chunks[-1][0] + data, chunks[-1][1])
                chunks.append((n_vop(), False))
            else:
                chunks.append((data, key))
            shown = max(shown, pts)
        chunks[0] = (b"\x00\x00\x01\xb2DivX503b1393p" + chunks[0][0], True)
        for k, (data, key) in enumerate(chunks):
            packet = av.Packet(data)
            packet.pts = packet.dts = k
            packet.time_base, packet.stream, packet.is_keyframe = time_base, stream, key
            container.mux(packet)
    return path
