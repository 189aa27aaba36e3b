"""Which frame indices make a clip.

``SegmentSampler`` (TSN, Wang et al. 2016): split the video into ``num_segments`` equal
segments and take one frame of each: a random frame per segment in training, the centre in
testing. With ``num_clips > 1`` at test time clip ``k`` takes offset ``(k + 0.5) / num_clips`` of
every segment (TSM's multi-clip testing: evenly spaced, the centre when ``num_clips`` is 1). A video
shorter than ``num_segments`` gives segments under a frame long, so frames repeat in order.

``DenseSampler`` (I3D style): ``num_frames`` frames ``stride`` apart from a window start: uniform
over the valid starts in training; in testing the ``num_clips`` windows start at the centres of
``num_clips`` equal parts of the valid range. A window longer than the video repeats the last frame.

Both return ``list[list[int]]`` (one index list per clip, indices non-decreasing) and draw all
randomness from the ``np.random.Generator`` they are given.
"""

from __future__ import annotations

import numpy as np


class SegmentSampler:
    """TSN segment sampling: ``num_segments`` frames, one per equal segment of the video."""

    def __init__(self, num_segments: int, train: bool) -> None:
        if num_segments < 1:
            raise ValueError(f"num_segments must be >= 1, got {num_segments}")
        self.num_segments = num_segments
        self.train = train

    def __call__(self, num_video_frames: int, rng: np.random.Generator, num_clips: int = 1) -> list[list[int]]:
        """``num_clips`` lists of ``num_segments`` indices in ``[0, num_video_frames)``."""
        if num_video_frames < 1:
            raise ValueError("cannot sample from a video without frames")
        edges = np.linspace(0, num_video_frames, self.num_segments + 1)
        starts, lengths = edges[:-1], np.diff(edges)
        if self.train:
            offsets = rng.random((num_clips, self.num_segments))
        else:
            offsets = np.repeat(((np.arange(num_clips) + 0.5) / num_clips)[:, None], self.num_segments, axis=1)
        positions = np.floor(starts + offsets * lengths).astype(int)
        return np.clip(positions, 0, num_video_frames - 1).tolist()


class DenseSampler:
    """``num_frames`` consecutive frames ``stride`` apart (a window of ``(num_frames - 1) * stride + 1``)."""

    def __init__(self, num_frames: int, stride: int, train: bool) -> None:
        if num_frames < 1 or stride < 1:
            raise ValueError(f"num_frames and stride must be >= 1, got {num_frames}, {stride}")
        self.num_frames = num_frames
        self.stride = stride
        self.train = train

    def __call__(self, num_video_frames: int, rng: np.random.Generator, num_clips: int = 1) -> list[list[int]]:
        """``num_clips`` lists of ``num_frames`` indices in ``[0, num_video_frames)``."""
        if num_video_frames < 1:
            raise ValueError("cannot sample from a video without frames")
        span = (self.num_frames - 1) * self.stride + 1
        room = max(num_video_frames - span, 0)
        if self.train:
            starts = rng.integers(0, room + 1, size=num_clips)
        else:
            starts = np.floor((np.arange(num_clips) + 0.5) / num_clips * room).astype(int)
        positions = starts[:, None] + np.arange(self.num_frames) * self.stride
        return np.clip(positions, 0, num_video_frames - 1).tolist()


def indices_at_fps(timestamps: np.ndarray, fps: float, duration: float | None = None) -> np.ndarray:
    """Frame indices that resample a video to ``fps``: for each time ``k / fps`` in ``[0, duration)``
    the last frame shown at or before it, ``(ceil(duration * fps),)`` int64.

    ``timestamps`` are the presentation times (seconds from the first frame, non-decreasing) of the
    source frames; ``duration`` defaults to one nominal frame past the last timestamp. A source slower
    than ``fps`` repeats frames, a faster one skips them; this is how THUMOS14 videos (mostly 30 fps)
    are read at the detectors' 10 or 25 fps.
    """
    timestamps = np.asarray(timestamps, dtype=np.float64)
    if timestamps.ndim != 1 or len(timestamps) == 0:
        raise ValueError("need the timestamps of at least one frame")
    if fps <= 0:
        raise ValueError(f"fps must be positive, got {fps}")
    if duration is None:
        step = float(np.median(np.diff(timestamps))) if len(timestamps) > 1 else 1.0 / fps
        duration = float(timestamps[-1]) + step
    count = max(int(np.ceil(duration * fps - 1e-9)), 1)
    times = np.arange(count, dtype=np.float64) / fps
    # 1e-9 s tolerance: timestamps are rationals rounded to float; k / fps may land a hair early.
    return np.clip(np.searchsorted(timestamps, times + 1e-9, side="right") - 1, 0, len(timestamps) - 1)
