"""The whole detection chain on one video: frames or features, the detector, decoding, soft-NMS.

A frame-mode detector reads the video itself with its training preprocessing (test crop), window by
window. A feature-mode detector needs the video's features made the way its training features were;
their recipe travels in the checkpoint (``pretrained_cfg["features"]``, the training features'
sidecar without its per-video fields). I3D features (``vidaction extract-features``) need the I3D
weights they were made with (``extractor``); features of other kinds (the synthetic demo's motion
descriptor) come from the caller's ``feature_maker(recipe) -> (video -> (features, sidecar)) or
None``, so the engine does not depend on how they are made. Both stream the video through in
pieces, so memory holds a piece of frames and the features ``(T, C)``, not the video. A ready
feature file can be given instead (``features``). :mod:`vidaction.engine.batch_detection` runs the
chain over many videos.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from vidaction.config import ConfigError
from vidaction.data.build import build_loader
from vidaction.data.errors import VideoDecodeError
from vidaction.data.detection_dataset import DetectionWindowDataset, collate_detection
from vidaction.data.records import DetectionVideo
from vidaction.data.feature_contract import check_feature_contract
from vidaction.data.feature_sidecar import FeatureSidecar, feature_path, write_features
from vidaction.engine.feature_extraction import FeatureExtractor, load_backbone
from vidaction.engine.prediction import predict_detections
from vidaction.engine.tasks.detection import build_source, load_trained_detector
from vidaction.evaluation.detection_results import Detections

VideoFeatures = Callable[[Path], "tuple[np.ndarray, FeatureSidecar]"]
FeatureMaker = Callable[[dict], "VideoFeatures | None"]


@dataclass
class VideoDetections:
    """One video's detections (``Detections`` of that video), its duration in seconds and the classes."""

    video_id: str
    detections: Detections
    duration: float
    class_names: list[str]


def feature_function(recipe: dict, extractor: str | None, feature_maker: FeatureMaker | None,
                     device: str | torch.device = "cpu") -> tuple[VideoFeatures, bool]:
    """``(video -> (features, sidecar), picklable)`` computing a video's features the way ``recipe``
    says: the ``feature_maker``'s function (picklable: DataLoader workers may run it) or, for I3D
    features, the ``extractor`` weights on ``device`` (in this process)."""
    made = feature_maker(recipe) if feature_maker is not None else None
    if made is not None:
        return made, True
    if "endpoint" not in recipe:
        raise ConfigError("the checkpoint does not say how its training features were made; pass --features FILE.npy")
    if not extractor:
        raise ConfigError(f"this detector was trained on I3D features ({recipe.get('checkpoint') or 'unnamed'} "
                          f"weights, {recipe['endpoint']}): pass --extractor WEIGHTS to compute them")
    model = load_backbone(extractor)
    return FeatureExtractor(
        model, recipe["endpoint"], recipe["fps"], recipe["window"], recipe["stride"], recipe.get("modality", "rgb"),
        recipe.get("size"), recipe.get("short_side"), recipe.get("crop"), bool(recipe.get("spatial")),
        device=device, checkpoint_name=Path(extractor).name).extract, False


def window_loader(cfg, class_names: list[str], record: DetectionVideo,
                  workers: int | None = None) -> tuple[DetectionWindowDataset, DataLoader]:
    """The test windows of one video (``record.path``: its file, or its features in feature mode) and
    their loader (``workers`` processes, default the config's)."""
    dataset = DetectionWindowDataset([record], build_source(cfg.data), len(class_names), train=False,
                                     window=cfg.data.window, stride=cfg.data.test_stride,
                                     fixed_length=cfg.data.fixed_length or None)
    data = cfg.data if workers is None else replace(cfg.data, num_workers=workers)
    return dataset, build_loader(dataset, data, train=False, collate_fn=collate_detection)


def detect_record(model: nn.Module, cfg, class_names: list[str], record: DetectionVideo, device: torch.device,
                  workers: int | None = None) -> VideoDetections:
    """Detections of one video by a loaded detector; ``VideoDecodeError`` when a window cannot be read."""
    check_feature_contract(cfg.data, [record.path], model.pretrained_cfg.get("features"))
    dataset, loader = window_loader(cfg, class_names, record, workers)
    duration = dataset.timelines[0].duration
    detections, bad = predict_detections([model.to(device)], [loader], cfg.test, torch.device(device),
                                         {record.video_id: duration})
    if bad:
        raise VideoDecodeError(record.path, bad[0].removeprefix(f"{record.path}: "))
    return VideoDetections(record.video_id, detections, duration, class_names)


@dataclass
class VideoAttention:
    """GAF over one video at one backbone map's resolution: ``times`` ``(N,)`` seconds, the map's
    features before (``original``) and after the attention (``enhanced``) averaged over space,
    ``(C, N)``, and ``lambdas`` ``(N,)``; overlapping windows are averaged."""

    video_id: str
    times: np.ndarray
    original: np.ndarray
    enhanced: np.ndarray
    lambdas: np.ndarray
    duration: float
    class_names: list[str]


@contextmanager
def _video_record(checkpoint: str | Path, video: str | Path, features: str | Path | None, extractor: str | None,
                  feature_maker: FeatureMaker | None, device: str = "cpu"):
    """``(model, cfg, class_names, record)`` of one video, its features computed into a scratch folder."""
    model, cfg, class_names = load_trained_detector(checkpoint)
    video = Path(video)
    if not video.is_file() and features is None:
        raise FileNotFoundError(f"video not found: {video}")
    with tempfile.TemporaryDirectory() as scratch:
        path = video
        if cfg.data.input == "features" and features:
            path = Path(features)
        elif cfg.data.input == "features":
            compute, _ = feature_function(model.pretrained_cfg.get("features", {}), extractor, feature_maker, device)
            path = write_features(feature_path(scratch, video.stem), *compute(video))
        yield model, cfg, class_names, DetectionVideo(video.stem, np.zeros((0, 2)), np.zeros(0, dtype=np.int64),
                                                      path=str(path))


def detect_video(checkpoint: str | Path, video: str | Path, features: str | Path | None = None,
                 extractor: str | None = None, device: str = "cpu",
                 feature_maker: FeatureMaker | None = None) -> VideoDetections:
    """Detections of one video (a file, or its feature file with ``features``) by ``checkpoint``."""
    with _video_record(checkpoint, video, features, extractor, feature_maker, device) as (model, cfg, names, record):
        try:
            return detect_record(model, cfg, names, record, torch.device(device))
        except VideoDecodeError as exc:
            raise VideoDecodeError(video, exc.reason) from exc


@torch.no_grad()
def video_attention(checkpoint: str | Path, video: str | Path, features: str | Path | None = None,
                    extractor: str | None = None, map_index: int = 0, device: str = "cpu",
                    feature_maker: FeatureMaker | None = None) -> VideoAttention:
    """GAF's lambda and the map's original and enhanced features over one video (for GAF Fig. 6)."""
    with _video_record(checkpoint, video, features, extractor, feature_maker, device) as (model, cfg, names, record):
        dataset, loader = window_loader(cfg, names, record)
        attention = model.attention
        if attention is None or not hasattr(attention, "attend"):
            raise ConfigError(f"{checkpoint}: the detector has no GAF attention (model.attention=gaf)")
        if not 0 <= map_index < len(attention.in_channels):
            raise ConfigError(f"map {map_index}: the attention has {len(attention.in_channels)} maps")
        model = model.to(device).eval()
        stride = attention.in_strides[map_index]
        timeline = dataset.timelines[0]
        steps = -(-timeline.num_steps // stride)
        sums = np.zeros((2 * attention.in_channels[map_index] + 1, steps))
        counts = np.zeros(steps)
        for batch in loader:
            if batch["input"] is None:
                raise VideoDecodeError(video, batch["bad"][0].removeprefix(f"{video}: "))
            x, mask = batch["input"].to(device), batch["mask"].to(device)
            original = model.head_inputs(x)
            output = attention.attend(original, mask)
            for b in range(len(x)):
                valid = int(output.segment.masks[map_index][b].sum())
                first = int(round(int(batch["window_start"][b]) / stride))
                index = np.arange(first, min(first + valid, steps))
                pooled = [t[b, :, :len(index)].flatten(2).mean(-1) if t.dim() > 3 else t[b, :, :len(index)]
                          for t in (original[map_index], output.features[map_index])]
                values = torch.cat([*pooled, output.segment.lambdas[map_index][b, None, :len(index)]]).cpu().numpy()
                sums[:, index] += values
                counts[index] += 1
    covered = counts > 0
    mean = sums[:, covered] / counts[covered]
    channels = attention.in_channels[map_index]
    times = timeline.time_offset + (np.flatnonzero(covered) * stride + (stride - 1) / 2) * timeline.seconds_per_step
    return VideoAttention(record.video_id, times, mean[:channels], mean[channels:2 * channels], mean[-1],
                          timeline.duration, names)

