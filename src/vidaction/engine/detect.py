"""The whole detection chain on one video: frames or features, the detector, decoding, soft-NMS.

A frame-mode detector reads the video itself with its training preprocessing (test crop). A
feature-mode detector needs the video's features made the way its training features were; their
recipe travels in the checkpoint (``pretrained_cfg["features"]``, the training features' sidecar
without its per-video fields): the synthetic motion descriptor is recomputed from the video, I3D
features (``vidaction extract-features``) need the I3D weights they were made with (``extractor``).
A ready feature file can be given instead (``features``).
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from vidaction.config import ConfigError
from vidaction.data.build import build_loader
from vidaction.data.detection_dataset import DetectionWindowDataset, collate_detection
from vidaction.data.records import DetectionVideo
from vidaction.engine.detection import predict_detections
from vidaction.engine.detection_experiment import build_source, load_trained_detector
from vidaction.evaluation.detection import Detections

@dataclass
class VideoDetections:
    """One video's detections (``Detections`` of that video), its duration in seconds and the classes."""

    video_id: str
    detections: Detections
    duration: float
    class_names: list[str]


def _features_of(video: Path, recipe: dict, extractor: str | None, out_dir: Path) -> Path:
    """Write ``video``'s features (and sidecar) the way ``recipe`` says into ``out_dir``; their path."""
    from vidaction.data.synthetic_detection import EXTRACTOR, video_motion_features
    from vidaction.engine.feature_extraction import FeatureExtractor, load_backbone, write_features

    if recipe.get("extractor") == EXTRACTOR:
        features, sidecar = video_motion_features(video, recipe)
    elif "endpoint" in recipe:
        if not extractor:
            raise ConfigError(f"this detector was trained on I3D features ({recipe.get('checkpoint') or 'unnamed'} "
                              f"weights, {recipe['endpoint']}): pass --extractor WEIGHTS to compute them")
        model = load_backbone(extractor)
        features, sidecar = FeatureExtractor(
            model, recipe["endpoint"], recipe["fps"], recipe["window"], recipe["stride"], recipe.get("modality", "rgb"),
            recipe.get("size"), recipe.get("short_side"), recipe.get("crop"), bool(recipe.get("spatial")),
            checkpoint_name=Path(extractor).name).extract(video)
    else:
        raise ConfigError("the checkpoint does not say how its training features were made; pass --features FILE.npy")
    write_features(out_dir, video.stem, features, sidecar)
    return out_dir / f"{video.stem}.npy"


def detect_video(checkpoint: str | Path, video: str | Path, features: str | Path | None = None,
                 extractor: str | None = None, device: str = "cpu") -> VideoDetections:
    """Detections of one video (a file, or its feature file with ``features``) by ``checkpoint``."""
    model, cfg, class_names = load_trained_detector(checkpoint)
    video = Path(video)
    if not video.is_file() and features is None:
        raise FileNotFoundError(f"video not found: {video}")
    with tempfile.TemporaryDirectory() as scratch:
        path = video
        if cfg.data.input == "features":
            path = Path(features) if features else _features_of(video, model.pretrained_cfg.get("features", {}),
                                                                 extractor, Path(scratch))
        record = DetectionVideo(video.stem, np.zeros((0, 2)), np.zeros(0, dtype=np.int64), path=str(path))
        dataset = DetectionWindowDataset([record], build_source(cfg.data), len(class_names), train=False,
                                         window=cfg.data.window, stride=cfg.data.test_stride,
                                         fixed_length=cfg.data.fixed_length or None)
        loader = build_loader(dataset, cfg.data, train=False, collate_fn=collate_detection)
        duration = dataset.timelines[0].duration
        detections, bad = predict_detections([model.to(device)], [loader], cfg.test, torch.device(device),
                                             {record.video_id: duration})
    if bad:
        raise ConfigError(f"{video}: could not be read: {bad[0]}")
    return VideoDetections(record.video_id, detections, duration, class_names)

