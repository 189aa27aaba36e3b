"""Temporal detection runs from a :class:`DetectionExperimentConfig`: annotations and media, windows,
the detector, the parts of a training run, and trained detectors.

This is where the detection config tree is split: the dataset gets ``cfg.data``, the detector
``cfg.model`` (with the data's channels and crop), the objective ``cfg.loss`` (and ``cfg.gaf``),
decoding ``cfg.test``.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from vidaction.config import (ConfigError, DetectionDataConfig, DetectionExperimentConfig, DetectorConfig,
                              config_from_saved)
from vidaction.data.build import build_loader
from vidaction.data.detection_dataset import DetectionWindowDataset, collate_detection
from vidaction.data.detection_sources import FeatureSource, FrameSource
from vidaction.data.feature_contract import check_feature_contract
from vidaction.data.feature_sidecar import feature_recipe
from vidaction.data.formats.detection import detection_format, read_class_list, read_detection_annotations
from vidaction.data.records import DetectionVideo
from vidaction.data.video_torchcodec import video_reader_class
from vidaction.engine import distributed
from vidaction.engine.batches import WindowBatches
from vidaction.engine.checkpoint import load_checkpoint
from vidaction.engine.evaluators import DetectionEvaluator
from vidaction.engine.loop import TooManyBadSamples
from vidaction.engine.objectives import DetectionObjective, GAFObjective
from vidaction.engine.runtime import seed_everything
from vidaction.engine.tasks.parts import RunParts
from vidaction.evaluation.detection_map import ANET_TIOU_THRESHOLDS, THUMOS14_TIOU_THRESHOLDS
from vidaction.models import create_model, create_model_from_arch, load_pretrained
from vidaction.models.detector import TemporalDetector
from vidaction.models.hub import fetch_weights, get_weights, is_weights_name

SPLITS = ("train", "val")


def read_split(cfg: DetectionDataConfig, split: str,
               class_names: list[str] | None = None) -> tuple[list[DetectionVideo], list[str]]:
    """Ground truth of ``split`` (``train_subset`` / ``val_subset``) with each video's media path,
    ``root / media_template.format(video_id)``; the class list is ``data.class_names``' file, else
    ``class_names``, else the annotations'."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {list(SPLITS)}, got {split!r}")
    if not cfg.annotations:
        raise ConfigError("data.annotations is empty: give a THUMOS14 annotation folder or an ActivityNet-style JSON")
    names = read_class_list(cfg.class_names) if cfg.class_names else class_names
    videos, names = read_detection_annotations(cfg.annotations, cfg.train_subset if split == "train" else
                                               cfg.val_subset, names, cfg.annotation_format, cfg.video_info)
    for video in videos:
        video.path = str(Path(cfg.root) / cfg.media_template.format(video.video_id))
    return videos, names


def default_tiou_thresholds(cfg: DetectionDataConfig, configured: list) -> list[float]:
    """``test.tiou_thresholds``, else THUMOS14's 0.3:0.1:0.7 or ActivityNet's 0.5:0.05:0.95 by the
    annotation format."""
    if configured:
        return [float(t) for t in configured]
    dataset = detection_format(cfg.annotations, cfg.annotation_format)
    thresholds = THUMOS14_TIOU_THRESHOLDS if dataset == "thumos14" else ANET_TIOU_THRESHOLDS
    return [float(t) for t in thresholds]


def build_source(cfg: DetectionDataConfig) -> FrameSource | FeatureSource:
    if cfg.input == "features":
        return FeatureSource(cfg.feature_channels, cfg.feature_fps or None,
                             None if cfg.feature_offset < 0 else cfg.feature_offset)
    return FrameSource(cfg.fps, cfg.stream, cfg.resize, cfg.crop, cfg.flip, cfg.mean, cfg.std,
                       video_reader=video_reader_class(cfg.decoder))


def build_detection_dataset(cfg: DetectionDataConfig, split: str, class_names: list[str] | None = None,
                            seed: int = 0, boundary_contrast: bool = False) -> tuple[DetectionWindowDataset, list[str]]:
    """The windows of ``split`` (training items with AFSD's boundary-contrastive augmentation when
    ``boundary_contrast``); videos whose media cannot be read are left out and listed, and more
    than ``data.max_bad_fraction`` of them stops the run before training."""
    videos, names = read_split(cfg, split, class_names)
    check_feature_contract(cfg, [video.path for video in videos])
    if not videos:
        raise ConfigError(f"no videos in subset {cfg.train_subset if split == 'train' else cfg.val_subset!r} of "
                          f"{cfg.annotations}")
    train = split == "train"
    dataset = DetectionWindowDataset(videos, build_source(cfg), len(names), train, window=cfg.window,
                                     stride=cfg.train_stride if train else cfg.test_stride,
                                     min_overlap=cfg.min_overlap, fixed_length=cfg.fixed_length or None,
                                     boundary_tolerance=cfg.boundary_tolerance, seed=seed, skip_bad=True,
                                     boundary_contrast=boundary_contrast, outside=cfg.outside_instances)
    if dataset.outside_instances and distributed.is_main_process():
        print(f"vidaction: warning: {len(dataset.outside_instances)} {split} instances reach beyond their video by "
              f"more than data.boundary_tolerance={cfg.boundary_tolerance} s and were clipped or dropped "
              f"(data.outside_instances=error refuses them): {'; '.join(dataset.outside_instances[:5])}", flush=True)
    if dataset.bad_videos:
        listed = "; ".join(dataset.bad_videos[:10])
        message = f"{len(dataset.bad_videos)} of {len(videos)} {split} videos cannot be read: {listed}"
        if len(dataset.bad_videos) > cfg.max_bad_fraction * len(videos):
            raise TooManyBadSamples(f"{message}; more than data.max_bad_fraction={cfg.max_bad_fraction}")
        if distributed.is_main_process():
            print(f"vidaction: warning: {message}", flush=True)
    if not len(dataset):
        raise ConfigError(f"the {split} videos give no windows (a training window needs a whole instance; "
                          f"data.window={cfg.window})")
    return dataset, names


def feature_spatial(dataset: DetectionWindowDataset) -> tuple[int, int] | None:
    """``(H, W)`` of ``(C, T, H, W)`` feature files, ``None`` for ``(T, C)`` ones."""
    array = np.load(dataset.videos[0].path, mmap_mode="r")
    return tuple(int(n) for n in array.shape[2:]) if array.ndim == 4 else None


def build_detector(cfg: DetectorConfig, data: DetectionDataConfig, num_classes: int,
                   spatial: tuple[int, int] | None = None, reconstruction: bool = True) -> TemporalDetector:
    """The configured detector, the registered ``afsd``: AFSD's head on the backbone's endpoints
    (frames) or on the features, with GAF's attention in between for ``model.attention=gaf`` (its
    CVAE when ``reconstruction``); the backbone's ``model.backbone_pretrained`` weights loaded."""
    frames = data.input == "frames"
    if frames and not cfg.backbone:
        raise ConfigError("data.input=frames needs model.backbone (e.g. i3d)")
    backbone_options = {"in_channels": 2 if data.stream == "flow" else 3, **cfg.backbone_options} if frames else {}
    try:
        model = create_model(cfg.name, num_classes, backbone=cfg.backbone if frames else "",
                             backbone_options=backbone_options, endpoints=list(cfg.endpoints),
                             input_channels=data.feature_channels, crop=data.crop,
                             feature_spatial=None if spatial is None else list(spatial), channels=cfg.channels,
                             proposal_channels=cfg.proposal_channels, frame_channels=cfg.frame_channels,
                             num_levels=cfg.num_levels, tower_layers=cfg.tower_layers, norm_groups=cfg.norm_groups,
                             distance_multipliers=list(cfg.distance_multipliers) or None, attention=cfg.attention,
                             attention_options={"use_cvae": reconstruction, **cfg.attention_options})
    except ValueError as exc:
        raise ConfigError(f"the detector cannot be built with these options: {exc}") from exc
    if frames and cfg.backbone_pretrained:
        weights = cfg.backbone_pretrained  # a file or published weights (``imagenet``: the backbone's)
        if is_weights_name(weights):
            weights = get_weights(weights, cfg.backbone).name
            if distributed.is_main_process():  # one download; the other processes read the cache
                fetch_weights(weights)
            distributed.barrier()
        report = load_pretrained(model.backbone, weights)
        if report.mismatched or report.missing:
            raise ConfigError(f"model.backbone_pretrained {cfg.backbone_pretrained} does not fit "
                              f"{cfg.backbone}:\n{report}")
        if distributed.is_main_process():
            print(f"loaded {cfg.backbone_pretrained}: {report}", flush=True)
    return model


def detection_parts(cfg: DetectionExperimentConfig, log=print) -> RunParts:
    """The parts of a detector's training run, evaluated on the validation subset."""
    seed_everything(cfg.train.seed + distributed.rank())
    train_set, class_names = build_detection_dataset(cfg.data, "train", seed=cfg.train.seed,
                                                     boundary_contrast=cfg.loss.contrastive_weight > 0)
    val_set, _ = build_detection_dataset(cfg.data, "val", class_names, seed=cfg.train.seed)
    num_classes = cfg.model.num_classes or len(class_names)
    if num_classes != len(class_names):
        raise ConfigError(f"model.num_classes={num_classes} but the annotations have {len(class_names)} classes")
    model = build_detector(cfg.model, cfg.data, num_classes,
                           feature_spatial(train_set) if cfg.data.input == "features" else None, cfg.gaf.reconstruction)
    if cfg.model.pretrained:
        report = load_pretrained(model, cfg.model.pretrained)
        if distributed.is_main_process():
            log(f"loaded {cfg.model.pretrained}: {report}")
    model.pretrained_cfg = {"class_names": list(class_names), "input": cfg.data.input, "fps": cfg.data.fps,
                            "window": cfg.data.window, "crop": cfg.data.crop, "resize": cfg.data.resize,
                            "mean": list(cfg.data.mean), "std": list(cfg.data.std)}
    if cfg.data.input == "features":
        model.pretrained_cfg["features"] = feature_recipe(train_set.videos[0].path)
        check_feature_contract(cfg.data, [video.path for video in val_set.videos], model.pretrained_cfg["features"])
    several = distributed.world_size() > 1
    loaders = [build_loader(dataset, cfg.data, train, several, collate_detection)
               for dataset, train in ((train_set, True), (val_set, False))]
    evaluator = DetectionEvaluator(val_set.videos, class_names, cfg.test,
                                   default_tiou_thresholds(cfg.data, cfg.test.tiou_thresholds), durations(val_set),
                                   Path(cfg.train.out_dir) / "predictions.json")
    objective = (GAFObjective(cfg.loss, cfg.gaf, cfg.schedule.epochs) if cfg.model.attention == "gaf"
                 else DetectionObjective(cfg.loss))
    return RunParts(model, objective, evaluator, WindowBatches(), loaders[0], loaders[1], class_names,
                    cfg.data.max_bad_fraction)


def durations(dataset: DetectionWindowDataset) -> dict[str, float]:
    return {video.video_id: timeline.duration for video, timeline in zip(dataset.videos, dataset.timelines)}


def load_trained_detector(checkpoint_path: str | Path) -> tuple[TemporalDetector, DetectionExperimentConfig,
                                                                 list[str]]:
    """Rebuild a detector saved by a detection run from the architecture record it carries
    (``arch``; checkpoints older than the records: from their config, the feature maps' size read
    from the head's first projection), with its config and class names."""
    state = load_checkpoint(checkpoint_path)
    if "config" not in state or "model" not in state:
        raise FileNotFoundError(f"{checkpoint_path} is not a vidaction training checkpoint (no 'config'/'model')")
    cfg = config_from_saved(state["config"])
    if not isinstance(cfg, DetectionExperimentConfig):
        raise ConfigError(f"{checkpoint_path} holds a {cfg.task} model, not a detector")
    class_names = list(state.get("class_names") or [])
    if isinstance(state.get("arch"), dict):
        model = create_model_from_arch(state["arch"])
    else:
        spatial = None
        head_inputs = state["model"].get("head.pyramid.projections.0.conv.weight")
        if cfg.data.input == "features" and head_inputs is not None and head_inputs.dim() == 5:
            spatial = tuple(int(n) for n in head_inputs.shape[3:])
        model = build_detector(replace(cfg.model, backbone_pretrained=""), cfg.data, len(class_names), spatial,
                               cfg.gaf.reconstruction)
    model.load_state_dict(state["model"])
    model.pretrained_cfg = state.get("pretrained_cfg", {})
    return model, cfg, class_names
