"""Inputs of untrimmed videos for temporal action detection, step by step on a :class:`Timeline`:
AFSD's frame pipeline and pre-extracted features (GAF Sec. IV-B), read by
:class:`~vidaction.data.detection_dataset.DetectionWindowDataset`.

A source has ``channels``, ``timeline(video, fixed_length) -> Timeline`` (checks the video and
fixes its steps) and ``read(video, timeline, start, count, train, rng)`` (steps ``start .. start +
count - 1`` as a float32 tensor, time on axis 1).

- :class:`FrameSource`: frames resampled to ``fps`` (:func:`~vidaction.data.sampling.indices_at_fps`:
  step ``k`` is the frame shown at ``k / fps``), resized to ``resize x resize`` (AFSD squashes every
  frame to 112 x 112 regardless of aspect ratio; so do we), then a random ``crop x crop`` crop (96 in
  AFSD and GAF) and a horizontal flip with probability 0.5 in training, the centre crop at test time,
  one draw per window. ``stream="rgb"``: ``(x / 255 - mean) / std`` per channel, AFSD's default being
  ``x / 255 * 2 - 1`` (mean = std = 0.5). ``stream="flow"``: a :class:`~vidaction.data.flow.FlowReader`
  already gives the I3D flow input in ``[-1, 1]``; a flip also negates the ``dx`` channel (mirroring
  reverses horizontal motion; AFSD flips the image only). Resizing flow does not rescale its values,
  so extract flow at the size the stream is trained at (``vidaction extract-flow --short-side 112
  --square``, as AFSD computes flow on its 112 x 112 frames). Output ``(C, count, crop, crop)``, ``C``
  3 (RGB) or 2 (flow).
- :class:`FeatureSource`: one ``.npy`` per video (``DetectionVideo.path``), ``(T, C)`` or
  ``(C, T, H, W)``, step ``i`` at ``time_offset + i / feature_fps`` seconds. ``feature_fps`` (steps
  per second, i.e. frame fps / stride) and ``time_offset`` (e.g. half a feature window for features
  centred on their window) come from the arguments or from the file's sidecar
  (:mod:`vidaction.data.feature_sidecar`: ``feature_fps``, ``time_offset`` or the first of
  ``feature_times``, and optionally ``duration`` and the extractor's ``window`` and ``stride`` in
  frames); both given and different is an error. Output ``(C, count)`` or ``(C, count, H, W)``.
- ``fixed_length=L`` (ActivityNet; 768 in GAF): the whole video resampled to exactly ``L`` steps
  (frames at ``k * duration / L``; features linearly interpolated at the bin centres
  ``(k + 0.5) * duration / L``).

Bad input. Feature files are opened by ``timeline``, videos and stored flow then only when the
record states no duration (else at their first read): a missing or unreadable file, an unreadable
sidecar, a feature array that is not ``(T, C)`` or ``(C, T, H, W)``, with other than ``channels``
channels, or with a length ``T`` more than ``length_tolerance`` steps (default 4, for rounding and
windows dropped at the end; plus ``window / stride`` when the sidecar states them) away from
``duration x feature_fps`` raise :class:`FeatureFileError` / :class:`VideoDecodeError` naming the
video and field.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from vidaction.data.dataset import FrameReader
from vidaction.data.errors import VideoDecodeError
from vidaction.data.feature_sidecar import FeatureSidecar, SidecarError, read_sidecar, sidecar_path
from vidaction.data.flow import FlowReader
from vidaction.data.records import DetectionVideo
from vidaction.data.sampling import indices_at_fps
from vidaction.data.video import VideoReader

STREAMS = ("rgb", "flow")
READER_CACHE = 32


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


def _resolve(path: Path, video_id: str, field: str, given: float | None, stored: float | None) -> float | None:
    """The configured value, else the sidecar's; both given and different is an error."""
    if given is not None and stored is not None and abs(float(stored) - given) > 1e-6 * max(1.0, abs(given)):
        raise FeatureFileError(sidecar_path(path), video_id, field,
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
        try:
            sidecar = read_sidecar(path) or FeatureSidecar()
        except SidecarError as exc:
            raise FeatureFileError(exc.path, video.video_id, exc.field, exc.reason) from exc
        feature_fps = _resolve(path, video.video_id, "feature_fps", self.feature_fps, sidecar.feature_fps)
        if feature_fps is None:
            raise FeatureFileError(path, video.video_id, "feature_fps",
                                   "not configured and no sidecar JSON with 'feature_fps' beside the file")
        offset = _resolve(path, video.video_id, "time_offset", self.time_offset, sidecar.start_time) or 0.0
        duration = video.duration if video.duration is not None else sidecar.duration
        if duration is not None:
            expected = float(duration) * feature_fps
            # windows that would pass the end are dropped
            tolerance = self.length_tolerance + sidecar.window_steps
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
    video's reader is made (e.g. frame folders), ``video_reader`` is the class that reads video files
    (:func:`~vidaction.data.video_torchcodec.video_reader_class` of ``data.decoder``). ``resize`` 0
    keeps the stored size."""

    def __init__(self, fps: float = 10.0, stream: str = "rgb", resize: int = 112, crop: int = 96, flip: bool = True,
                 mean: Sequence[float] = (0.5, 0.5, 0.5), std: Sequence[float] = (0.5, 0.5, 0.5),
                 reader_factory: Callable[[DetectionVideo], FrameReader] | None = None,
                 video_reader: Callable[[str], FrameReader] = VideoReader) -> None:
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
        self.video_reader = video_reader
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
                reader = self.video_reader(video.path)
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
