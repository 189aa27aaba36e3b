"""Windows of untrimmed videos for temporal action detection: AFSD's data pipeline (GAF Sec. IV-B).

Inputs come from a *source* (:mod:`vidaction.data.detection_sources`: ``FrameSource`` for frames or
stored flow, ``FeatureSource`` for pre-extracted features), the time axis of each video from its
:class:`~vidaction.data.detection_sources.Timeline`; this module cuts them into windows with targets.

Windows (AFSD ``common/thumos_dataset.py`` ``split_videos`` and ``thumos14/test.py``), in steps:

- starts ``0, stride, 2 * stride, ...`` up to ``N - window``, plus the end-aligned ``N - window``
  when the stride does not land on it; a video of ``N <= window`` steps has the one window ``0``,
  zero-padded past its end (``mask`` False there). AFSD's strides are 30 (training) and 128
  (testing) frames at 10 fps for ``window = 256``.
- training keeps a window only if it contains at least one *whole* instance (start and end inside
  ``[start, start + window]``); its targets are the instances with at least ``min_overlap`` (0.5) of
  their length inside, clipped to the window; instances less covered are dropped from the targets
  (AFSD's rule; their frames count as background). A video without any such window gives no
  training item (listed in ``videos_without_windows``). AFSD tests wholeness against
  ``[offset + 1, offset + 256]`` (frames numbered from 1); we use ``[offset, offset + 256]`` in 0-based
  steps, the instance bounds being continuous times.
- testing keeps every window and all instances overlapping it, relative to the window start and not
  clipped.
- ``fixed_length=L`` (ActivityNet; 768 in GAF): one window per video, the whole video resampled to
  exactly ``L`` steps (frames at ``k * duration / L``; features linearly interpolated at the bin
  centres ``(k + 0.5) * duration / L``); AFSD keeps videos shorter than 768 frames at their own
  length and pads, GAF says every video has 768, which we follow. Training skips videos without
  instances, as AFSD does.

Item (a dict; the detector, losses and trainer rely on exactly these keys):

- ``"input"``: float32 ``(C, T, H, W)`` for frames (``C`` 3 RGB or 2 flow), ``(C, T)`` or
  ``(C, T, H, W)`` for features, ``T = window`` (or ``fixed_length``), zero past the video's end;
- ``"mask"``: ``(T,)`` bool, False on that padding;
- ``"segments"``: float32 ``(K, 2)`` ``[start, end]`` in steps relative to the window start;
- ``"labels"``: int64 ``(K,)`` in ``0 .. num_classes - 1`` (no background class);
- ``"video_id"``: str; ``"window_start"``: int, steps from the video start; ``"index"``: int;
- ``"seconds_per_step"``: float; ``"time_offset"``: float, the time of step 0, so that
  ``seconds = time_offset + (window_start + position) * seconds_per_step`` (:func:`steps_to_seconds`);
- with ``boundary_contrast`` (training only): ``"contrast"``, ``(input, proposals (3, 2))`` of AFSD's
  boundary-contrastive augmentation (:mod:`vidaction.data.boundary_augment`, its own draw
  ``default_rng((seed, e, i, 1))``, so the plain item is the same with or without it), or ``None``
  when the window has no instance and background long enough.

Bad input. Annotations are checked when the dataset is built, against the video's duration (the
record's, else the media's): a segment with a non-finite bound or ``end < start``, and a label
outside ``0 .. num_classes - 1`` raise :class:`DetectionAnnotationError` naming the video and field
(``segments[k]``, ``labels[k]``). Bounds within ``boundary_tolerance`` seconds outside
``[0, duration]`` are clipped. A segment reaching further out is what ``outside`` says: ``"warn"``
(default) clips it to the video, drops it when nothing of it is left (a start at or past the end),
and lists it in ``outside_instances``; ``"error"`` raises. The published THUMOS14 annotations (AFSD's
and GAF's ``thumos_annotations/``, the official per-class files) hold five such instances, starting
after their videos end; no model can see them, and refusing the files would refuse the benchmark. The
source checks its files when the dataset is built (its module docstring); with ``skip_bad=True``
videos whose files fail are left out and listed in ``bad_videos`` instead. A read that fails inside
an epoch gives an item with ``"input": None`` and an ``"error"`` message, which
:func:`collate_detection` drops and lists under ``"bad"`` (as
:func:`~vidaction.data.dataset.collate_clips` does), for the trainer to count.

Randomness: item ``i`` of epoch ``e`` draws from ``np.random.default_rng((seed, e, i))``, and an
index ``e * len(dataset) + i`` carries the epoch, as in :class:`~vidaction.data.dataset.VideoClipDataset`
(use it with :class:`~vidaction.data.dataset.EpochSampler`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch.utils.data import default_collate

from vidaction.data.boundary_augment import paste_background, paste_length
from vidaction.data.dataset import EpochSeededDataset
from vidaction.data.detection_sources import Source, Timeline
from vidaction.data.errors import AnnotationError, VideoDecodeError
from vidaction.data.records import DetectionVideo

AFSD_TRAIN_STRIDE = 30
AFSD_TEST_STRIDE = 128


class DetectionAnnotationError(AnnotationError):
    """An instance of a video does not fit the video or the class list; names the video and field."""

    def __init__(self, video: DetectionVideo, field: str, reason: str) -> None:
        where = video.path or f"video {video.video_id}"
        prefix = f"video {video.video_id}: " if video.path else ""
        super().__init__(where, 0, f"{prefix}field {field!r}: {reason}")
        self.video_id = video.video_id
        self.field = field


def steps_to_seconds(positions: Any, window_start: Any, seconds_per_step: Any, time_offset: Any) -> Any:
    """Window positions -> seconds: ``time_offset + (window_start + positions) * seconds_per_step``
    (numbers, arrays or tensors; for a batch pass ``(B, 1)``-shaped window fields)."""
    return time_offset + (window_start + positions) * seconds_per_step


@dataclass(frozen=True)
class DetectionWindow:
    """One item: ``video`` (index into ``dataset.videos``), first step ``start``, and the targets:
    ``segments`` ``(K, 2)`` steps relative to ``start`` and ``labels`` ``(K,)``."""

    video: int
    start: int
    segments: np.ndarray
    labels: np.ndarray


def window_starts(num_steps: int, window: int, stride: int) -> list[int]:
    """AFSD's window starts: every ``stride`` steps plus the end-aligned ``num_steps - window``; ``[0]``
    when the video fits in one window."""
    if window < 1 or stride < 1:
        raise ValueError(f"window and stride must be >= 1, got {window}, {stride}")
    if num_steps <= window:
        return [0]
    starts = list(range(0, num_steps - window + 1, stride))
    if (num_steps - window) % stride:
        starts.append(num_steps - window)
    return starts


def _coverage(segments: np.ndarray, start: float, end: float) -> tuple[np.ndarray, np.ndarray]:
    """``(fraction of each instance inside [start, end], whether it lies wholly inside)``; a
    zero-length instance counts as wholly inside when its point is."""
    whole = (segments[:, 0] >= start) & (segments[:, 1] <= end)
    length = segments[:, 1] - segments[:, 0]
    inside = np.clip(np.minimum(segments[:, 1], end) - np.maximum(segments[:, 0], start), 0.0, None)
    fraction = np.where(length > 0, inside / np.where(length > 0, length, 1.0), whole.astype(np.float64))
    return fraction, whole


def plan_training_windows(segments: np.ndarray, labels: np.ndarray, num_steps: int, window: int, stride: int,
                     min_overlap: float = 0.5) -> list[tuple[int, np.ndarray, np.ndarray]]:
    """AFSD's training windows of one video: ``(start, segments, labels)`` for each window with a
    whole instance; targets are the instances at least ``min_overlap`` inside, clipped, relative."""
    windows = []
    for start in window_starts(num_steps, window, stride):
        fraction, whole = _coverage(segments, start, start + window)
        if not whole.any():
            continue
        keep = fraction >= min_overlap
        windows.append((start, np.clip(segments[keep] - start, 0.0, window), labels[keep]))
    return windows


def plan_test_windows(segments: np.ndarray, labels: np.ndarray, num_steps: int, window: int,
                 stride: int) -> list[tuple[int, np.ndarray, np.ndarray]]:
    """Every window of one video with all instances overlapping it, relative, not clipped."""
    windows = []
    for start in window_starts(num_steps, window, stride):
        fraction, whole = _coverage(segments, start, start + window)
        keep = (fraction > 0) | whole
        windows.append((start, segments[keep] - start, labels[keep]))
    return windows



def _steps_of_instances(video: DetectionVideo, timeline: Timeline, num_classes: int, tolerance: float,
                        outside: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Check the instances against the duration and class count; ``(segments in steps, labels, notes)``
    with a note for each instance clipped or dropped beyond the tolerance (``outside="warn"``)."""
    duration = timeline.duration
    notes, keep = [], np.ones(len(video.segments), dtype=bool)
    for k, (start, end) in enumerate(video.segments):
        field = f"segments[{k}]"
        if not (np.isfinite(start) and np.isfinite(end)):
            raise DetectionAnnotationError(video, field, f"[{start}, {end}] is not a finite interval")
        if end < start:
            raise DetectionAnnotationError(video, field, f"end {end} s before start {start} s")
        if start < -tolerance or end > duration + tolerance or start >= duration:
            reason = f"[{start}, {end}] s outside the video [0, {duration:g}] s"
            if outside == "error":
                raise DetectionAnnotationError(video, field, reason)
            keep[k] = start < duration
            notes.append(f"video {video.video_id} {field} {reason}: {'clipped' if keep[k] else 'dropped'}")
    for k, label in enumerate(video.labels):
        if not 0 <= label < num_classes:
            raise DetectionAnnotationError(video, f"labels[{k}]",
                                           f"label {label} outside 0..{num_classes - 1} ({num_classes} classes)")
    clipped = np.clip(video.segments[keep], 0.0, duration)
    return timeline.to_steps(clipped), video.labels[keep].copy(), notes


class DetectionWindowDataset(EpochSeededDataset):
    """Detection windows over ``videos`` read through ``source`` (module docstring: rules and item).

    ``window`` steps per item (``fixed_length`` replaces windows by whole videos resampled to that
    many steps), ``stride`` between window starts (default AFSD's 30 in training, 128 at test time),
    ``min_overlap`` for truncated training targets, ``boundary_tolerance`` in seconds;
    ``boundary_contrast`` adds AFSD's boundary-contrastive augmentation to training items;
    ``outside`` (``"warn"`` | ``"error"``) treats instances beyond the tolerance.
    """

    def __init__(self, videos: Sequence[DetectionVideo], source: Source, num_classes: int, train: bool,
                 window: int = 256, stride: int | None = None, min_overlap: float = 0.5,
                 fixed_length: int | None = None, boundary_tolerance: float = 1.0, seed: int = 0,
                 skip_bad: bool = False, boundary_contrast: bool = False, outside: str = "warn") -> None:
        if num_classes < 1:
            raise ValueError(f"num_classes must be >= 1, got {num_classes}")
        if fixed_length is not None and fixed_length < 1:
            raise ValueError(f"fixed_length must be >= 1, got {fixed_length}")
        if not 0.0 < min_overlap <= 1.0:
            raise ValueError(f"min_overlap must lie in (0, 1], got {min_overlap}")
        if outside not in ("warn", "error"):
            raise ValueError(f"outside must be 'warn' or 'error', got {outside!r}")
        self.source = source
        self.num_classes = num_classes
        self.train = train
        self.window = fixed_length or window
        self.stride = stride if stride is not None else (AFSD_TRAIN_STRIDE if train else AFSD_TEST_STRIDE)
        self.fixed_length = fixed_length
        self.boundary_contrast = boundary_contrast and train
        self.paste_lengths: list[int] = []
        self.seed = seed
        self.epoch = 0
        self.videos: list[DetectionVideo] = []
        self.timelines: list[Timeline] = []
        self.windows: list[DetectionWindow] = []
        self.bad_videos: list[str] = []
        self.videos_without_windows: list[str] = []
        self.outside_instances: list[str] = []
        for video in videos:
            try:
                timeline = source.timeline(video, fixed_length)
            except VideoDecodeError as exc:
                if not skip_bad:
                    raise
                self.bad_videos.append(str(exc))
                continue
            segments, labels, notes = _steps_of_instances(video, timeline, num_classes, boundary_tolerance, outside)
            self.outside_instances.extend(notes)
            if fixed_length:
                if train and not len(segments):
                    planned = []
                else:
                    kept = np.clip(segments, 0.0, fixed_length) if train else segments
                    planned = [(0, kept, labels)]
            elif train:
                planned = plan_training_windows(segments, labels, timeline.num_steps, window, self.stride, min_overlap)
            else:
                planned = plan_test_windows(segments, labels, timeline.num_steps, window, self.stride)
            if not planned:
                self.videos_without_windows.append(video.video_id)
                continue
            number = len(self.videos)
            self.videos.append(video)
            self.timelines.append(timeline)
            if self.boundary_contrast:
                self.paste_lengths.append(paste_length(np.concatenate([t[:, 1] - t[:, 0] for _, t, _ in planned])))
            self.windows.extend(DetectionWindow(number, start, targets.astype(np.float32), classes.astype(np.int64))
                                for start, targets, classes in planned)

    def __len__(self) -> int:
        return len(self.windows)

    def __getitem__(self, index: int) -> dict[str, Any]:
        epoch, index = self.epoch_item(index)
        window = self.windows[index]
        video, timeline = self.videos[window.video], self.timelines[window.video]
        count = min(self.window, timeline.num_steps - window.start)
        item: dict[str, Any] = {
            "segments": torch.from_numpy(window.segments), "labels": torch.from_numpy(window.labels),
            "video_id": video.video_id, "window_start": window.start,
            "seconds_per_step": timeline.seconds_per_step, "time_offset": timeline.time_offset, "index": index,
        }
        rng = np.random.default_rng((self.seed, epoch, index))
        try:
            data = self.source.read(video, timeline, window.start, count, self.train, rng)
        except VideoDecodeError as exc:
            return {**item, "input": None, "mask": None, "error": str(exc)}
        except OSError as exc:
            return {**item, "input": None, "mask": None, "error": f"{video.path}: video {video.video_id}: {exc}"}
        if count < self.window:
            padding = torch.zeros(data.shape[0], self.window - count, *data.shape[2:], dtype=data.dtype)
            data = torch.cat([data, padding], dim=1)
        mask = torch.zeros(self.window, dtype=torch.bool)
        mask[:count] = True
        if self.boundary_contrast:
            augmented = paste_background(data, window.segments, count, self.paste_lengths[window.video],
                                         np.random.default_rng((self.seed, epoch, index, 1)))
            item["contrast"] = None if augmented is None else (augmented.input, augmented.proposals)
        return {**item, "input": data, "mask": mask}


def collate_detection(items: list[dict[str, Any]]) -> dict[str, Any]:
    """Stack the good items: ``"input"`` ``(B, C, T, ...)``, ``"mask"`` ``(B, T)`` (both ``None`` when
    no item is good), ``"segments"``/``"labels"``/``"video_id"`` as lists, ``"window_start"`` and
    ``"index"`` int64 ``(B,)``, ``"seconds_per_step"`` and ``"time_offset"`` float64 ``(B,)``; bad
    items (``input is None``) only add their ``"error"`` to ``"bad"``."""
    good = [item for item in items if item["input"] is not None]
    return {
        "input": default_collate([item["input"] for item in good]) if good else None,
        "mask": torch.stack([item["mask"] for item in good]) if good else None,
        "segments": [item["segments"] for item in good],
        "labels": [item["labels"] for item in good],
        "video_id": [item["video_id"] for item in good],
        "window_start": torch.tensor([item["window_start"] for item in good], dtype=torch.long),
        "seconds_per_step": torch.tensor([item["seconds_per_step"] for item in good], dtype=torch.float64),
        "time_offset": torch.tensor([item["time_offset"] for item in good], dtype=torch.float64),
        "index": torch.tensor([item["index"] for item in good], dtype=torch.long),
        "bad": [item["error"] for item in items if item["input"] is None],
        **_collate_contrast(good),
    }


def _collate_contrast(good: list[dict[str, Any]]) -> dict[str, Any]:
    """The augmented windows of the items that have one (``boundary_contrast``), stacked with their
    masks and proposals: ``"contrast"`` ``(input (B', C, T, ...), mask (B', T), proposals (B', 3, 2))``,
    ``None`` when there is none."""
    kept = [item for item in good if item.get("contrast") is not None]
    if not kept:
        return {"contrast": None}
    return {"contrast": (torch.stack([item["contrast"][0] for item in kept]),
                         torch.stack([item["mask"] for item in kept]),
                         torch.stack([item["contrast"][1] for item in kept]))}
