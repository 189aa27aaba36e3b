"""Windows of untrimmed videos for temporal action detection: AFSD's data pipeline (GAF Sec. IV-B).

Inputs come from a *source*, the time axis of each video from its :class:`Timeline`:

- :class:`FrameSource`: frames resampled to ``fps`` (:func:`~vidaction.data.sampling.indices_at_fps`:
  step ``k`` is the frame shown at ``k / fps``), resized to ``resize x resize`` (AFSD squashes every
  frame to 112 x 112 regardless of aspect ratio; so do we), then a random ``crop x crop`` crop (96 in
  AFSD and GAF) and a horizontal flip with probability 0.5 in training, the centre crop at test time,
  one draw per window. ``stream="rgb"``: ``(x / 255 - mean) / std`` per channel, AFSD's default being
  ``x / 255 * 2 - 1`` (mean = std = 0.5). ``stream="flow"``: a :class:`~vidaction.data.flow.FlowReader`
  already gives the I3D flow input in ``[-1, 1]``; a flip also negates the ``dx`` channel (mirroring
  reverses horizontal motion; AFSD flips the image only). Resizing flow does not rescale its values,
  so extract flow at the size the stream is trained at (``vidaction extract-flow --short-side 112
  --square``, as AFSD computes flow on its 112 x 112 frames).
- :class:`FeatureSource`: one ``.npy`` per video (``DetectionVideo.path``), ``(T, C)`` or
  ``(C, T, H, W)``, step ``i`` at ``time_offset + i / feature_fps`` seconds. ``feature_fps`` (steps
  per second, i.e. frame fps / stride) and ``time_offset`` (e.g. half a feature window for features
  centred on their window) come from the arguments or from a sidecar ``<name>.json`` beside
  ``<name>.npy``: ``feature_fps``, ``time_offset`` (else the first of ``feature_times``, as
  ``vidaction extract-features`` writes), and optionally ``duration`` and the extractor's ``window``
  and ``stride`` in frames (the format of :mod:`vidaction.data.synthetic_detection` and
  :mod:`vidaction.engine.feature_extraction`); both given and different is an error.

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
record's, else the media's): a segment with a non-finite bound, ``end < start``, a start at or past
the end of the video, or a bound more than ``boundary_tolerance`` seconds outside ``[0, duration]``,
and a label outside ``0 .. num_classes - 1`` raise :class:`DetectionAnnotationError` naming the
video and field (``segments[k]``, ``labels[k]``); bounds within the tolerance are clipped. Feature
files are opened when the dataset is built, videos and stored flow then only when the record states
no duration (else at their first read): a missing or unreadable file, a feature array that is not
``(T, C)`` or ``(C, T, H, W)``, with other than ``channels`` channels, or with a length ``T`` more
than ``length_tolerance`` steps (default 4, for rounding and windows dropped at the end; plus
``window / stride`` when the sidecar states them) away from ``duration x feature_fps`` raise
:class:`FeatureFileError` / :class:`VideoDecodeError` naming the video and field; with
``skip_bad=True`` such videos are left out and listed in ``bad_videos``
instead. A read that fails inside an epoch gives an item with ``"input": None`` and an ``"error"``
message, which :func:`collate_detection` drops and lists under ``"bad"`` (as
:func:`~vidaction.data.dataset.collate_clips` does), for the trainer to count.

Randomness: item ``i`` of epoch ``e`` draws from ``np.random.default_rng((seed, e, i))``, and an
index ``e * len(dataset) + i`` carries the epoch, as in :class:`~vidaction.data.dataset.VideoClipDataset`
(use it with :class:`~vidaction.data.dataset.EpochSampler`).
"""

from __future__ import annotations

import json
import math
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import Dataset, default_collate

from vidaction.data.boundary_augment import paste_background, paste_length
from vidaction.data.dataset import FrameReader
from vidaction.data.errors import AnnotationError, VideoDecodeError
from vidaction.data.flow import FlowReader
from vidaction.data.records import DetectionVideo
from vidaction.data.sampling import indices_at_fps
from vidaction.data.video import VideoReader

STREAMS = ("rgb", "flow")
AFSD_TRAIN_STRIDE = 30
AFSD_TEST_STRIDE = 128
READER_CACHE = 32


class DetectionAnnotationError(AnnotationError):
    """An instance of a video does not fit the video or the class list; names the video and field."""

    def __init__(self, video: DetectionVideo, field: str, reason: str) -> None:
        where = video.path or f"video {video.video_id}"
        prefix = f"video {video.video_id}: " if video.path else ""
        super().__init__(where, 0, f"{prefix}field {field!r}: {reason}")
        self.video_id = video.video_id
        self.field = field


class FeatureFileError(VideoDecodeError):
    """A feature file is missing, unreadable or does not match the video or the configuration."""

    def __init__(self, path: str | Path, video_id: str, field: str, reason: str) -> None:
        super().__init__(path, f"video {video_id}: field {field!r}: {reason}")
        self.video_id = video_id
        self.field = field


@dataclass(frozen=True)
class Timeline:
    """The input time axis of one video: step ``k`` at ``time_offset + k * seconds_per_step`` s."""

    num_steps: int
    seconds_per_step: float
    time_offset: float
    duration: float

    def to_steps(self, seconds: np.ndarray) -> np.ndarray:
        """Seconds -> (fractional) steps from the video start."""
        return (np.asarray(seconds, dtype=np.float64) - self.time_offset) / self.seconds_per_step


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


# Sidecar fields that describe one video rather than how its features were made.
PER_VIDEO_FIELDS = ("video_id", "source", "duration", "num_features", "feature_times", "shape", "num_frames",
                    "num_source_frames", "source_fps", "padded_frames")


def feature_recipe(path: str | Path) -> dict:
    """How the features at ``path`` were made: their sidecar without its per-video fields (``{}``
    without a sidecar). Detectors keep it to make features of new videos the same way."""
    sidecar = Path(path).with_suffix(".json")
    if not sidecar.is_file():
        return {}
    return {k: v for k, v in json.loads(sidecar.read_text()).items() if k not in PER_VIDEO_FIELDS}


def _read_sidecar(path: Path, video_id: str) -> dict:
    sidecar = path.with_suffix(".json")
    if not sidecar.is_file():
        return {}
    try:
        content = json.loads(sidecar.read_text())
    except (OSError, ValueError) as exc:
        raise FeatureFileError(sidecar, video_id, "sidecar", f"unreadable JSON ({exc})") from exc
    if not isinstance(content, dict):
        raise FeatureFileError(sidecar, video_id, "sidecar", "must be a JSON object")
    return content


def _resolve(path: Path, video_id: str, field: str, given: float | None, sidecar: dict) -> float | None:
    stored = sidecar.get(field)
    if stored is not None and not isinstance(stored, (int, float)):
        raise FeatureFileError(path.with_suffix(".json"), video_id, field, f"must be a number, got {stored!r}")
    if given is not None and stored is not None and abs(float(stored) - given) > 1e-6 * max(1.0, abs(given)):
        raise FeatureFileError(path.with_suffix(".json"), video_id, field,
                               f"the sidecar says {stored}, the configuration {given}")
    return given if given is not None else (None if stored is None else float(stored))


@dataclass(frozen=True)
class _FeatureLayout:
    native: Timeline
    spatial: bool


class FeatureSource:
    """Pre-extracted features, one ``.npy`` per video at ``DetectionVideo.path``.

    ``channels`` is the expected ``C``; ``feature_fps`` and ``time_offset`` as in the module
    docstring (``None``: the sidecar's; a missing ``feature_fps`` is an error, a missing
    ``time_offset`` is 0); ``length_tolerance`` in steps.
    """

    def __init__(self, channels: int, feature_fps: float | None = None, time_offset: float | None = None,
                 length_tolerance: float = 4.0) -> None:
        if channels < 1:
            raise ValueError(f"channels must be >= 1, got {channels}")
        if feature_fps is not None and feature_fps <= 0:
            raise ValueError(f"feature_fps must be positive, got {feature_fps}")
        self.channels = channels
        self.feature_fps = feature_fps
        self.time_offset = time_offset
        self.length_tolerance = length_tolerance
        self._layouts: dict[str, _FeatureLayout] = {}

    def _open(self, video: DetectionVideo) -> np.ndarray:
        path = Path(video.path)
        if not video.path or not path.is_file():
            raise FeatureFileError(path, video.video_id, "path", "feature file not found")
        try:
            return np.load(path, mmap_mode="r", allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise FeatureFileError(path, video.video_id, "path", f"unreadable .npy ({exc})") from exc

    def timeline(self, video: DetectionVideo, fixed_length: int | None = None) -> Timeline:
        """Check the file against the configuration and the video's duration; its :class:`Timeline`."""
        path = Path(video.path)
        array = self._open(video)
        if array.ndim == 2:
            num_steps, channels = array.shape
        elif array.ndim == 4:
            channels, num_steps = array.shape[:2]
        else:
            raise FeatureFileError(path, video.video_id, "shape",
                                   f"features must be (T, C) or (C, T, H, W), got shape {array.shape}")
        if channels != self.channels:
            raise FeatureFileError(path, video.video_id, "channels",
                                   f"{channels} channels (shape {array.shape}), the configuration says {self.channels}")
        if num_steps < 1:
            raise FeatureFileError(path, video.video_id, "length", "no feature steps")
        sidecar = _read_sidecar(path, video.video_id)
        feature_fps = _resolve(path, video.video_id, "feature_fps", self.feature_fps, sidecar)
        if feature_fps is None:
            raise FeatureFileError(path, video.video_id, "feature_fps",
                                   "not configured and no sidecar JSON with 'feature_fps' beside the file")
        if "time_offset" not in sidecar and isinstance(sidecar.get("feature_times"), list) and sidecar["feature_times"]:
            sidecar = {**sidecar, "time_offset": sidecar["feature_times"][0]}
        offset = _resolve(path, video.video_id, "time_offset", self.time_offset, sidecar) or 0.0
        duration = video.duration if video.duration is not None else sidecar.get("duration")
        if duration is not None:
            expected = float(duration) * feature_fps
            tolerance = self.length_tolerance
            if isinstance(sidecar.get("window"), (int, float)) and isinstance(sidecar.get("stride"), (int, float)):
                tolerance += sidecar["window"] / sidecar["stride"]  # windows that would pass the end are dropped
            if abs(num_steps - expected) > tolerance:
                raise FeatureFileError(path, video.video_id, "length",
                                       f"{num_steps} feature steps, expected {expected:.1f} (duration {duration} s x "
                                       f"{feature_fps} steps/s) +- {tolerance:g}")
        else:
            duration = num_steps / feature_fps
        native = Timeline(num_steps, 1.0 / feature_fps, offset, float(duration))
        self._layouts[video.video_id] = _FeatureLayout(native, array.ndim == 4)
        if fixed_length:
            step = float(duration) / fixed_length
            return Timeline(fixed_length, step, 0.5 * step, float(duration))
        return native

    def read(self, video: DetectionVideo, timeline: Timeline, start: int, count: int, train: bool,
             rng: np.random.Generator) -> Tensor:
        """Steps ``start .. start + count - 1``: ``(C, count)`` or ``(C, count, H, W)`` float32."""
        layout = self._layouts.get(video.video_id)
        if layout is None:
            self.timeline(video)
            layout = self._layouts[video.video_id]
        array = self._open(video)
        time_axis = 1 if layout.spatial else 0
        native = layout.native
        try:
            if timeline == native:
                data = np.take(array, np.arange(start, start + count), axis=time_axis).astype(np.float32)
            else:
                times = timeline.time_offset + (start + np.arange(count)) * timeline.seconds_per_step
                position = np.clip(native.to_steps(times), 0, native.num_steps - 1)
                low = np.floor(position).astype(np.int64)
                high = np.minimum(low + 1, native.num_steps - 1)
                weight = (position - low).astype(np.float32)
                dense = np.asarray(array, dtype=np.float32)
                shape = [1] * dense.ndim
                shape[time_axis] = count
                weight = weight.reshape(shape)
                data = (np.take(dense, low, axis=time_axis) * (1 - weight)
                        + np.take(dense, high, axis=time_axis) * weight)
        except (OSError, ValueError) as exc:
            raise FeatureFileError(video.path, video.video_id, "path", f"unreadable features ({exc})") from exc
        if not layout.spatial:
            data = data.T
        return torch.from_numpy(np.ascontiguousarray(data))


class FrameSource:
    """Frames (``stream="rgb"``, :class:`VideoReader` of ``DetectionVideo.path``) or stored TV-L1 flow
    (``stream="flow"``, :class:`FlowReader`) resampled to ``fps``; ``reader_factory`` overrides how a
    video's reader is made (e.g. frame folders). ``resize`` 0 keeps the stored size."""

    def __init__(self, fps: float = 10.0, stream: str = "rgb", resize: int = 112, crop: int = 96, flip: bool = True,
                 mean: Sequence[float] = (0.5, 0.5, 0.5), std: Sequence[float] = (0.5, 0.5, 0.5),
                 reader_factory: Callable[[DetectionVideo], FrameReader] | None = None) -> None:
        if stream not in STREAMS:
            raise ValueError(f"stream must be one of {list(STREAMS)}, got {stream!r}")
        if fps <= 0:
            raise ValueError(f"fps must be positive, got {fps}")
        if crop < 1 or resize < 0 or (resize and resize < crop):
            raise ValueError(f"need crop >= 1 and resize 0 or >= crop, got resize {resize}, crop {crop}")
        self.fps = fps
        self.stream = stream
        self.channels = 3 if stream == "rgb" else 2
        self.resize = resize
        self.crop = crop
        self.flip = flip
        self.mean = torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1)
        self.reader_factory = reader_factory
        self._readers: OrderedDict[str, FrameReader] = OrderedDict()

    def _reader(self, video: DetectionVideo) -> FrameReader:
        """The video's reader; the last ``READER_CACHE`` are kept (each holds its frame index)."""
        reader = self._readers.get(video.video_id)
        if reader is None:
            if self.reader_factory is not None:
                reader = self.reader_factory(video)
            elif self.stream == "flow":
                reader = FlowReader(video.path)
            else:
                reader = VideoReader(video.path)
            self._readers[video.video_id] = reader
            if len(self._readers) > READER_CACHE:
                self._readers.popitem(last=False)
        else:
            self._readers.move_to_end(video.video_id)
        return reader

    def timeline(self, video: DetectionVideo, fixed_length: int | None = None) -> Timeline:
        """Steps at ``fps`` (or ``fixed_length`` steps) over the record's duration, else the media's."""
        duration = video.duration if video.duration is not None else float(self._reader(video).duration)
        if duration <= 0:
            raise VideoDecodeError(video.path, f"video {video.video_id}: duration {duration} s")
        if fixed_length:
            return Timeline(fixed_length, duration / fixed_length, 0.0, duration)
        return Timeline(max(math.ceil(duration * self.fps - 1e-9), 1), 1.0 / self.fps, 0.0, duration)

    def read(self, video: DetectionVideo, timeline: Timeline, start: int, count: int, train: bool,
             rng: np.random.Generator) -> Tensor:
        """Steps ``start .. start + count - 1`` as ``(C, count, crop, crop)`` float32."""
        reader = self._reader(video)
        every = indices_at_fps(reader.timestamps(), 1.0 / timeline.seconds_per_step, timeline.duration)
        indices = every[start:start + count]
        if len(indices) < count:  # float rounding of the step count: repeat the last frame
            indices = np.concatenate([indices, np.full(count - len(indices), every[-1])])
        frames = reader.get_frames(indices)
        if frames.ndim != 4 or frames.shape[-1] != self.channels:
            raise VideoDecodeError(video.path, f"video {video.video_id}: {self.stream} frames of shape "
                                               f"{frames.shape}, expected (T, H, W, {self.channels})")
        clip = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).to(torch.float32)
        if self.stream == "rgb":
            clip = clip / 255.0
        if self.resize and clip.shape[-2:] != (self.resize, self.resize):
            clip = F.interpolate(clip, size=(self.resize, self.resize), mode="bilinear", align_corners=False,
                                 antialias=True)
        height, width = clip.shape[-2:]
        if height < self.crop or width < self.crop:
            raise VideoDecodeError(video.path, f"frames {height}x{width} are smaller than the crop {self.crop}")
        if train:
            top, left = int(rng.integers(0, height - self.crop + 1)), int(rng.integers(0, width - self.crop + 1))
        else:
            top, left = (height - self.crop) // 2, (width - self.crop) // 2
        clip = clip[..., top:top + self.crop, left:left + self.crop]
        if train and self.flip and rng.random() < 0.5:
            clip = clip.flip(-1)
            if self.stream == "flow":
                clip[:, 0] = -clip[:, 0]
        if self.stream == "rgb":
            clip = (clip - self.mean) / self.std
        return clip.permute(1, 0, 2, 3).contiguous()


Source = FrameSource | FeatureSource


def _steps_of_instances(video: DetectionVideo, timeline: Timeline, num_classes: int,
                        tolerance: float) -> tuple[np.ndarray, np.ndarray]:
    """Check the instances against the duration and class count; ``(segments in steps, labels)``."""
    duration = timeline.duration
    for k, (start, end) in enumerate(video.segments):
        field = f"segments[{k}]"
        if not (np.isfinite(start) and np.isfinite(end)):
            raise DetectionAnnotationError(video, field, f"[{start}, {end}] is not a finite interval")
        if end < start:
            raise DetectionAnnotationError(video, field, f"end {end} s before start {start} s")
        if start < -tolerance or end > duration + tolerance or start >= duration:
            raise DetectionAnnotationError(video, field, f"[{start}, {end}] s outside the video [0, {duration:g}] s")
    for k, label in enumerate(video.labels):
        if not 0 <= label < num_classes:
            raise DetectionAnnotationError(video, f"labels[{k}]",
                                           f"label {label} outside 0..{num_classes - 1} ({num_classes} classes)")
    clipped = np.clip(video.segments, 0.0, duration)
    return timeline.to_steps(clipped), video.labels.copy()


class DetectionWindowDataset(Dataset):
    """Detection windows over ``videos`` read through ``source`` (module docstring: rules and item).

    ``window`` steps per item (``fixed_length`` replaces windows by whole videos resampled to that
    many steps), ``stride`` between window starts (default AFSD's 30 in training, 128 at test time),
    ``min_overlap`` for truncated training targets, ``boundary_tolerance`` in seconds;
    ``boundary_contrast`` adds AFSD's boundary-contrastive augmentation to training items.
    """

    def __init__(self, videos: Sequence[DetectionVideo], source: Source, num_classes: int, train: bool,
                 window: int = 256, stride: int | None = None, min_overlap: float = 0.5,
                 fixed_length: int | None = None, boundary_tolerance: float = 1.0, seed: int = 0,
                 skip_bad: bool = False, boundary_contrast: bool = False) -> None:
        if num_classes < 1:
            raise ValueError(f"num_classes must be >= 1, got {num_classes}")
        if fixed_length is not None and fixed_length < 1:
            raise ValueError(f"fixed_length must be >= 1, got {fixed_length}")
        if not 0.0 < min_overlap <= 1.0:
            raise ValueError(f"min_overlap must lie in (0, 1], got {min_overlap}")
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
        for video in videos:
            try:
                timeline = source.timeline(video, fixed_length)
            except VideoDecodeError as exc:
                if not skip_bad:
                    raise
                self.bad_videos.append(str(exc))
                continue
            segments, labels = _steps_of_instances(video, timeline, num_classes, boundary_tolerance)
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

    def set_epoch(self, epoch: int) -> None:
        """The epoch used for plain indices (``i < len(self)``)."""
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.windows)

    def __getitem__(self, index: int) -> dict[str, Any]:
        epoch, index = divmod(index, len(self.windows)) if index >= len(self.windows) else (self.epoch, index)
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
