"""Tiny real media written by the tests: gray-ramp videos whose frame ``i`` is uniformly gray at
level ``STEP * i``, so decoded frames reveal their index, and a UCF101-layout tree of them."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from types import SimpleNamespace

import av
import numpy as np
import pytest

from vidaction.data.writer import write_video

STEP = 5
UCF_CLASSES = ("ApplyEyeMakeup", "Archery", "Bowling")


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
           pix_fmt: str = "yuv420p") -> Path:
    """Write ``frames`` with PyAV, frame ``i`` at ``pts[i]`` (default ``i``) in time base ``1/rate``."""
    time_base = Fraction(1, rate)
    with av.open(str(path), "w", options=container_options or {}) as container:
        stream = container.add_stream(codec, rate=rate)
        stream.height, stream.width = frames.shape[1:3]
        stream.pix_fmt = pix_fmt
        stream.codec_context.time_base = time_base
        stream.options = options or {}
        for i, image in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
            frame.pts, frame.time_base = (pts[i] if pts else i), time_base
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


@pytest.fixture
def ramp() -> SimpleNamespace:
    """``ramp.frames(n, h, w)``, ``ramp.ids(frames)``, ``ramp.encode(path, frames, ...)``, ``ramp.write(path, n)``."""
    return SimpleNamespace(frames=gray_ramp, ids=frame_ids, encode=encode,
                           write=lambda path, n, **size: write_video(path, gray_ramp(n, **size), fps=25))


def _crlf(lines) -> bytes:
    return "".join(f"{line}\r\n" for line in lines).encode()


@pytest.fixture(scope="session")
def ucf_tree(tmp_path_factory) -> Path:
    """UCF101 layout: ``videos/<Class>/v_<Class>_gNN_c01.mp4`` (24-frame ramps, 40x48) and
    ``annotations/{classInd,trainlist01,testlist01}.txt`` with CRLF line endings; 2 train and 1
    test video per class."""
    root = tmp_path_factory.mktemp("ucf101")
    train, test = [], []
    for label, name in enumerate(UCF_CLASSES, 1):
        (root / "videos" / name).mkdir(parents=True)
        for group in (1, 2, 3):
            relative = f"{name}/v_{name}_g{group:02d}_c01.mp4"
            write_video(root / "videos" / relative, gray_ramp(24, 40, 48), fps=25)
            if group < 3:
                train.append(f"{relative} {label}")
            else:
                test.append(relative)
    annotations = root / "annotations"
    annotations.mkdir()
    (annotations / "classInd.txt").write_bytes(_crlf(f"{i} {n}" for i, n in enumerate(UCF_CLASSES, 1)))
    (annotations / "trainlist01.txt").write_bytes(_crlf(train))
    (annotations / "testlist01.txt").write_bytes(_crlf(test))
    return root


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
