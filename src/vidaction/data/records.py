"""The record types annotation readers return: trimmed clips (recognition) and untrimmed videos (detection)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class VideoRecord:
    """A labelled video file or frame folder.

    ``label`` is the class index, -1 when unknown (a test set); datasets with several heads
    (EPIC-Kitchens' verb and noun) give one index per head as a tuple. ``num_frames`` is the frame count an
    annotation states, if any; the dataset trusts the reader's count. ``start``/``end`` (seconds,
    ``None`` = the file's own start/end) restrict sampling to a part of the file. ``meta`` keeps
    format-specific fields (ids, source times) for reporting.
    """

    path: str
    label: int | tuple[int, ...]
    num_frames: int | None = None
    start: float | None = None
    end: float | None = None
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class DetectionVideo:
    """An untrimmed video and its action instances: the ground truth of temporal action detection.

    ``segments`` is ``(K, 2)`` float64 ``[start, end]`` in seconds with ``start <= end``; ``labels``
    is ``(K,)`` int64, indices into the reader's class list (no background class). ``ambiguous``
    holds ``(A, 2)`` regions that must not count for or against a detector (THUMOS14's
    ``Ambiguous`` class). ``duration`` is in seconds, ``None`` where the annotation does not state
    it (THUMOS14's per-class files). ``path`` is the video file, frame folder or feature file, set by
    whoever pairs annotations with media; ``meta`` keeps format-specific fields.
    """

    video_id: str
    segments: np.ndarray
    labels: np.ndarray
    duration: float | None = None
    subset: str = ""
    ambiguous: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))
    fps: float | None = None
    path: str = ""
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.segments = np.asarray(self.segments, dtype=np.float64).reshape(-1, 2)
        self.labels = np.asarray(self.labels, dtype=np.int64).reshape(-1)
        self.ambiguous = np.asarray(self.ambiguous, dtype=np.float64).reshape(-1, 2)
        if len(self.segments) != len(self.labels):
            raise ValueError(f"video {self.video_id}: {len(self.segments)} segments but {len(self.labels)} labels")
