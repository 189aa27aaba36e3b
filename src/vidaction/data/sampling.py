"""Which frame indices make a clip.

``SegmentSampler`` (TSN, Wang et al. 2016): split the video into ``num_segments`` equal segments
and take one frame from each: a random frame per segment in training, the centre in testing. With
``num_clips > 1`` at test time the clips take evenly spaced offsets within the segments (TSM's
multi-clip testing). ``DenseSampler`` (I3D style): ``num_frames`` frames ``stride`` apart from a
window start: random in training, ``num_clips`` windows evenly spaced in testing.
Both return ``list[list[int]]``, one index list per clip, deterministic given the generator.
"""

from __future__ import annotations

import numpy as np


class SegmentSampler:
    """TSN segment sampling of ``num_segments`` frames."""

    def __init__(self, num_segments: int, train: bool) -> None:
        if num_segments < 1:
            raise ValueError(f"num_segments must be >= 1, got {num_segments}")
        self.num_segments = num_segments
        self.train = train

    def __call__(self, num_video_frames: int, rng: np.random.Generator, num_clips: int = 1) -> list[list[int]]:
        if num_video_frames < 1:
            raise ValueError("cannot sample from a video without frames")
        edges = np.linspace(0, num_video_frames, self.num_segments + 1)
        starts, lengths = edges[:-1], np.diff(edges)
        if self.train:
            clips = [starts + rng.random((self.num_segments,)) * lengths for _ in range(num_clips)]
        else:
            offsets = (np.arange(num_clips) + 0.5) / num_clips
            clips = [starts + offset * lengths for offset in offsets]
        return [np.clip(np.floor(c), 0, num_video_frames - 1).astype(int).tolist() for c in clips]


class DenseSampler:
    """``num_frames`` frames ``stride`` apart; windows longer than the video wrap by clamping."""

    def __init__(self, num_frames: int, stride: int, train: bool) -> None:
        if num_frames < 1 or stride < 1:
            raise ValueError(f"num_frames and stride must be >= 1, got {num_frames}, {stride}")
        self.num_frames = num_frames
        self.stride = stride
        self.train = train

    def __call__(self, num_video_frames: int, rng: np.random.Generator, num_clips: int = 1) -> list[list[int]]:
        if num_video_frames < 1:
            raise ValueError("cannot sample from a video without frames")
        span = (self.num_frames - 1) * self.stride + 1
        room = max(num_video_frames - span, 0)
        if self.train:
            starts = rng.integers(0, room + 1, size=num_clips)
        else:
            starts = np.linspace(0, room, num_clips + 2)[1:-1] if num_clips > 1 else np.array([room / 2])
        offsets = np.arange(self.num_frames) * self.stride
        return [np.clip(int(s) + offsets, 0, num_video_frames - 1).astype(int).tolist() for s in starts]
