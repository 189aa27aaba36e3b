"""Frame-accurate video decoding with PyAV.

Frames are indexed in presentation order: the reader demuxes the packets once (no decoding) and
sorts their timestamps, so frame ``i`` is the ``i``-th frame shown, also for variable frame rate
and B-frames, and ``num_frames`` is what the file holds rather than what its header claims.
``get_frames`` seeks to the keyframe before the first wanted frame and decodes forward.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import av
import numpy as np

from vidaction.data.errors import VideoDecodeError


class VideoReader:
    """Random access to the RGB frames of one video file: ``get_frames(indices) -> (T, H, W, 3) uint8``."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        if not Path(self.path).is_file():
            raise VideoDecodeError(self.path, "file not found")
        try:
            with av.open(self.path) as container:
                if not container.streams.video:
                    raise VideoDecodeError(self.path, "no video stream")
                stream = container.streams.video[0]
                pts = [p.pts for p in container.demux(stream) if p.pts is not None and p.size > 0]
                self.fps = float(stream.average_rate or stream.guessed_rate or 0.0)
                self.time_base = float(stream.time_base)
        except av.FFmpegError as exc:
            raise VideoDecodeError(self.path, f"cannot open as video ({exc.__class__.__name__}: {exc})") from exc
        if not pts:
            raise VideoDecodeError(self.path, "video has no frames")
        self._pts = np.array(sorted(pts), dtype=np.int64)
        self.num_frames = len(self._pts)

    @property
    def duration(self) -> float:
        """Seconds from the first to one frame past the last frame."""
        span = (self._pts[-1] - self._pts[0]) * self.time_base
        return float(span + (1.0 / self.fps if self.fps else 0.0))

    def timestamps(self) -> np.ndarray:
        """Presentation time in seconds of every frame, ``(num_frames,)``."""
        return (self._pts - self._pts[0]) * self.time_base

    def get_frames(self, indices: Sequence[int]) -> np.ndarray:
        """Frames at ``indices`` (any order, repeats allowed) as ``(len(indices), H, W, 3) uint8``."""
        indices = [int(i) for i in indices]
        if not indices:
            raise ValueError("no frame indices requested")
        bad = [i for i in indices if not 0 <= i < self.num_frames]
        if bad:
            raise VideoDecodeError(self.path, f"frame index {bad[0]} outside [0, {self.num_frames})")
        wanted = {int(self._pts[i]) for i in indices}
        decoded = self._decode(wanted)
        if len(decoded) < len(wanted):
            raise VideoDecodeError(self.path, f"truncated or corrupt: decoded {len(decoded)} of "
                                   f"{len(wanted)} requested frames ({self.num_frames} in the container)")
        return np.stack([decoded[int(self._pts[i])] for i in indices])

    def _decode(self, wanted: set[int]) -> dict[int, np.ndarray]:
        first, last = min(wanted), max(wanted)
        found: dict[int, np.ndarray] = {}
        try:
            with av.open(self.path) as container:
                stream = container.streams.video[0]
                if first > self._pts[0]:
                    container.seek(first, stream=stream, backward=True, any_frame=False)
                for frame in container.decode(stream):
                    if frame.pts is None:
                        continue
                    if frame.pts in wanted:
                        found[frame.pts] = frame.to_ndarray(format="rgb24")
                    if frame.pts >= last and len(found) == len(wanted):
                        break
        except av.FFmpegError as exc:
            if len(found) < len(wanted):
                raise VideoDecodeError(self.path, f"decoding failed ({exc.__class__.__name__}: {exc})") from exc
        return found

    def read_all(self) -> np.ndarray:
        """Every frame, ``(num_frames, H, W, 3) uint8``."""
        return self.get_frames(range(self.num_frames))
