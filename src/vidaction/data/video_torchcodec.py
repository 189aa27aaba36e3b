"""Frame-exact random access with torchcodec (``data.decoder: torchcodec``), the interface of
:class:`vidaction.data.video.VideoReader`: ``get_frames`` returns ``(len(indices), H, W, 3) uint8`` RGB.

torchcodec is optional (``pip install 'vidaction[torchcodec]'``): its wheels load FFmpeg 4-7 shared
libraries (later releases take newer FFmpeg too) and are built against one torch release; beside
another torch build (a CPU torch next to a CUDA wheel, say) its import fails with ``OSError``.
:func:`require_torchcodec` turns any such failure into one :class:`TorchcodecUnavailable` that says
how to install it; torchcodec is imported only then.

torchcodec decodes; PyAV still probes. Each reader first builds a PyAV ``VideoReader``, which checks
the file (missing, a still image, truncated, an overstated header: its errors and warnings),
indexes the packets and decides whether their timestamps give the display order, so that frame
``i`` is the same picture in both backends. torchcodec (``seek_mode="exact"``, one FFmpeg thread per
reader: DataLoader workers fill the cores) finds frame ``i`` by its timestamp, and in a range it
returns each next picture the decoder outputs. The reader therefore asks it, for each run of
wanted frames (PyAV's ``decode_plan``), for every frame from the keyframe before the run to its last
frame (torchcodec decodes them anyway; converting the unwanted ones to RGB is the price), and
compares their timestamps with the index: a decoder outputting pictures in another order than
their timestamps shows it there, as in the PyAV reader. Decoding is left to the PyAV reader (which
has the same frames) for a file that

- PyAV numbers in decode order (its timestamps are unreliable): torchcodec would go by them;
- shows a picture decoded after a keyframe before it (open GOPs): torchcodec passes over such
  pictures without returning them, so a disagreement there would go unseen;
- torchcodec cannot open or decode (MPEG-4 Part 2 AVI with B-frames, raw H.264 without timestamps,
  damaged data: then PyAV reports what is wrong), counts differently, or whose frames' timestamps
  are not the index's. These warn once and the file stays with PyAV in this process.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from vidaction.data.video import VideoReader
from vidaction.data.video_index import FileCache

CHUNK = 32  # frames converted at a time: bounds the memory of long runs
INSTALL = ("install it with pip install 'vidaction[torchcodec]': it needs FFmpeg 4-7 shared libraries and a torch "
           "build that torchcodec's wheel matches (or use data.decoder=pyav)")
_WITH_PYAV = FileCache(capacity=4096)


class TorchcodecUnavailable(ImportError):
    """torchcodec is not installed or cannot be loaded here."""


def require_torchcodec() -> Any:
    """torchcodec's ``VideoDecoder`` class; :class:`TorchcodecUnavailable` saying how to install it."""
    try:
        from torchcodec.decoders import VideoDecoder
    except (ImportError, OSError, RuntimeError) as exc:
        raise TorchcodecUnavailable(f"torchcodec cannot be imported ({_describe(exc)}); {INSTALL}") from exc
    return VideoDecoder


def video_reader_class(decoder: str) -> type:
    """The reader of ``data.decoder``: :class:`~vidaction.data.video.VideoReader` for ``"pyav"``,
    :class:`TorchcodecReader` for ``"torchcodec"`` (a ``ConfigError`` here, before any video is
    opened, when torchcodec cannot be imported)."""
    from vidaction.config import ConfigError

    if decoder == "pyav":
        return VideoReader
    if decoder != "torchcodec":
        raise ConfigError(f"data.decoder must be 'pyav' or 'torchcodec', got {decoder!r}")
    try:
        require_torchcodec()
    except TorchcodecUnavailable as exc:
        raise ConfigError(f"data.decoder=torchcodec: {exc}") from exc
    return TorchcodecReader


class TorchcodecReader:
    """Random access to the RGB frames of one video file, decoded by torchcodec where it agrees
    with the packet index (see the module docstring). ``thread_type`` and ``sparse_seek`` are the
    PyAV reader's: its decoding, and the runs both backends read."""

    def __init__(self, path: str | Path, thread_type: str = "SLICE", sparse_seek: bool = True) -> None:
        self._video_decoder = require_torchcodec()
        self.pyav = VideoReader(path, thread_type, sparse_seek)
        self.path = self.pyav.path
        self.fps = self.pyav.fps

    @property
    def num_frames(self) -> int:
        return self.pyav.num_frames

    @property
    def decode_order(self) -> bool:
        return self.pyav.decode_order

    @property
    def duration(self) -> float:
        return self.pyav.duration

    def timestamps(self) -> np.ndarray:
        return self.pyav.timestamps()

    def decode_plan(self, indices: Sequence[int]) -> list[list[int]]:
        """The runs both backends read (:meth:`VideoReader.decode_plan`)."""
        return self.pyav.decode_plan(indices)

    def get_frames(self, indices: Sequence[int]) -> np.ndarray:
        """Frames at ``indices`` (any order, repeats allowed) as ``(len(indices), H, W, 3) uint8`` RGB."""
        indices = [int(i) for i in indices]
        if indices and not self._with_pyav() and all(0 <= i < self.num_frames for i in indices):
            try:
                frames = self._decode(indices)
                return np.stack([frames[i] for i in indices])
            except _Disagrees as why:
                warnings.warn(f"{self.path}: torchcodec {why}; reading it with PyAV", stacklevel=2)
                _WITH_PYAV.put(self.path, True)
        return self.pyav.get_frames(indices)

    def _with_pyav(self) -> bool:
        return self.pyav.decode_order or self.pyav.probe.leading_pictures or bool(_WITH_PYAV.get(self.path))

    def _decode(self, indices: list[int]) -> dict[int, np.ndarray]:
        probe = self.pyav.probe
        try:
            decoder = self._video_decoder(self.path, seek_mode="exact", dimension_order="NHWC",
                                          num_ffmpeg_threads=1, device="cpu")
            if len(decoder) != self.num_frames:
                raise _Disagrees(f"counts {len(decoder)} frames, the packet index {self.num_frames}")
            frames = {}
            for run in self.decode_plan(indices):
                k = int(np.searchsorted(probe.key_index, run[0], side="right")) - 1
                wanted = set(run)
                for start in range(int(probe.key_index[k]) if k >= 0 else 0, run[-1] + 1, CHUNK):
                    stop = min(start + CHUNK, run[-1] + 1)
                    batch = decoder.get_frames_in_range(start, stop)
                    pts = np.rint(batch.pts_seconds.numpy() / probe.time_base).astype(np.int64)
                    if not np.array_equal(pts, probe.pts[start:stop]):
                        raise _Disagrees("outputs pictures in another order than their timestamps")
                    data = batch.data.numpy()
                    frames.update((i, data[i - start].copy()) for i in range(start, stop) if i in wanted)
        except (RuntimeError, ValueError, IndexError) as exc:
            raise _Disagrees(f"cannot decode it ({_describe(exc)})") from exc
        return frames


class _Disagrees(Exception):
    """torchcodec cannot read the file or disagrees with the packet index."""


def _describe(exc: BaseException) -> str:
    """The exception's type and the first line of its message (torchcodec's run to C++ traces)."""
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__
