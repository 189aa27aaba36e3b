"""Typed experiment configuration: dataclasses loaded from YAML with dotted overrides.

One dataclass per concern (data, model, optim, schedule, train, recipe; for detection also loss and
test); each component receives only its own sub-config. The top-level ``task`` key picks the tree:
``recognition`` (the default, :class:`ExperimentConfig`) or ``detection``
(:class:`DetectionExperimentConfig`). A YAML file may name a parent with ``_base_: relative/path.yaml``; the child's keys
override the parent's, section by section. Unknown keys fail at load time with the closest valid
key; cross-field checks live in ``__post_init__``.
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class ConfigError(ValueError):
    """A configuration key or value is invalid; the message names the key."""


@dataclass
class DataConfig:
    """Where the videos are, how clips are sampled and transformed, how they are batched.

    ``format`` picks the annotation reader: ``ucf101`` (``annotations`` is the folder holding
    ``classInd.txt`` and ``trainlistNN.txt``/``testlistNN.txt``, ``split`` picks NN), ``sthv1``
    (folder holding the three ``;``-separated CSVs), ``sthv2`` (folder holding the labels JSON and
    the train/validation JSONs), ``kinetics`` (``annotations`` is the folder holding
    ``train.csv``/``validate.csv``/``test.csv``), ``list`` (``train_list``/``val_list`` are
    ``path label`` files with ``class_names`` optional).
    """

    format: str = "ucf101"
    root: str = ""
    annotations: str = ""
    split: int = 1
    train_list: str = ""
    val_list: str = ""
    class_names: str = ""
    modality: str = "video"
    frame_template: str = "{:05d}.jpg"
    frame_start_index: int = 1
    frame_fps: float = 12.0
    eval_subset: str = ""
    val_participants: list = field(default_factory=list)
    video_template: str = ""
    num_frames: int = 8
    sampling: str = "segment"
    frame_stride: int = 1
    input_size: int = 224
    resize_short: int = 256
    train_crop: str = "multiscale"
    short_side_range: list = field(default_factory=list)
    flip: bool = True
    flip_label_pairs: list = field(default_factory=list)
    test_clips: int = 1
    test_crops: int = 1
    test_crop_size: int = 0
    mean: list = field(default_factory=lambda: list(IMAGENET_MEAN))
    std: list = field(default_factory=lambda: list(IMAGENET_STD))
    batch_size: int = 8
    num_workers: int = 2
    pin_memory: bool = True
    persistent_workers: bool = True
    max_bad_fraction: float = 0.05
    decode_cache: int = 0

    def __post_init__(self) -> None:
        _one_of("data.format", self.format, ("ucf101", "sthv1", "sthv2", "kinetics", "list", "egogesture", "epic55"))
        _one_of("data.modality", self.modality, ("video", "frames"))
        _one_of("data.sampling", self.sampling, ("segment", "dense"))
        _one_of("data.train_crop", self.train_crop, ("multiscale", "random_resized", "center", "scale_jitter"))
        if self.train_crop == "scale_jitter":
            if len(self.short_side_range) != 2 or not self.input_size <= self.short_side_range[0] <= \
                    self.short_side_range[1]:
                raise ConfigError(f"data.train_crop=scale_jitter needs data.short_side_range=[min, max] with "
                                  f"data.input_size ({self.input_size}) <= min <= max, got {self.short_side_range}")
        elif self.short_side_range:
            raise ConfigError("data.short_side_range is used only by data.train_crop=scale_jitter")
        _one_of("data.test_crops", self.test_crops, (1, 3, 10))
        _positive("data.num_frames", self.num_frames)
        _positive("data.frame_stride", self.frame_stride)
        _positive("data.test_clips", self.test_clips)
        _positive("data.batch_size", self.batch_size)
        if self.input_size > self.resize_short:
            raise ConfigError(
                f"data.input_size ({self.input_size}) is larger than data.resize_short "
                f"({self.resize_short}); a crop cannot exceed the resized frame"
            )
        if self.frame_fps <= 0:
            raise ConfigError(f"data.frame_fps must be positive, got {self.frame_fps}")
        if self.format in EVAL_SUBSETS:
            _one_of("data.eval_subset", self.eval_subset or EVAL_SUBSETS[self.format][0], EVAL_SUBSETS[self.format])
        elif self.eval_subset:
            raise ConfigError(f"data.eval_subset is for the formats {list(EVAL_SUBSETS)}, not {self.format!r}")
        if self.test_crop_size > self.resize_short:
            raise ConfigError(f"data.test_crop_size ({self.test_crop_size}) is larger than data.resize_short "
                              f"({self.resize_short}); full-resolution testing uses test_crop_size=resize_short")
        if self.test_crops == 10 and not self.flip:
            raise ConfigError("data.test_crops=10 mirrors half of the test views, but data.flip=false says the "
                              "classes are not mirror-invariant; use test_crops=1 or 3")
        if not 0.0 <= self.max_bad_fraction <= 1.0:
            raise ConfigError(f"data.max_bad_fraction must lie in [0, 1], got {self.max_bad_fraction}")
        if len(self.mean) != 3 or len(self.std) != 3:
            raise ConfigError("data.mean and data.std must each have 3 values (RGB)")
        for pair in self.flip_label_pairs:
            if not isinstance(pair, (list, tuple)) or len(pair) != 2:
                raise ConfigError(f"data.flip_label_pairs entries must be [class_a, class_b], got {pair!r}")


@dataclass
class ModelConfig:
    """Which registered model to build; ``options`` are the builder's keyword arguments."""

    name: str = "tsm_r50"
    num_classes: int = 0
    pretrained: str = ""
    dropout: float = 0.5
    options: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.num_classes < 0:
            raise ConfigError(f"model.num_classes must be >= 0 (0 = from the dataset), got {self.num_classes}")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"model.dropout must lie in [0, 1), got {self.dropout}")


@dataclass
class OptimConfig:
    """Optimiser, regularisation and loss options."""

    name: str = "sgd"
    lr: float = 0.01
    momentum: float = 0.9
    nesterov: bool = False
    betas: list = field(default_factory=lambda: [0.9, 0.999])
    weight_decay: float = 5e-4
    grad_clip: float = 20.0
    label_smoothing: float = 0.0
    partial_bn: bool = False

    def __post_init__(self) -> None:
        _one_of("optim.name", self.name, ("sgd", "adam", "adamw"))
        if self.lr <= 0:
            raise ConfigError(f"optim.lr must be > 0, got {self.lr}")
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ConfigError(f"optim.label_smoothing must lie in [0, 1), got {self.label_smoothing}")


@dataclass
class ScheduleConfig:
    """Epochs and the learning-rate schedule (cosine with linear warm-up, or step)."""

    epochs: int = 50
    warmup_epochs: float = 0.0
    warmup_start_factor: float = 0.1
    policy: str = "cosine"
    min_lr: float = 0.0
    milestones: list = field(default_factory=list)
    gamma: float = 0.1

    def __post_init__(self) -> None:
        _one_of("schedule.policy", self.policy, ("cosine", "step", "constant"))
        _positive("schedule.epochs", self.epochs)
        if self.warmup_epochs < 0 or self.warmup_epochs > self.epochs:
            raise ConfigError(
                f"schedule.warmup_epochs must lie in [0, epochs={self.epochs}], got {self.warmup_epochs}"
            )


@dataclass
class TrainConfig:
    """How a run executes: output folder, seed, device, precision, logging, resuming."""

    out_dir: str = "runs/exp"
    seed: int = 0
    device: str = "auto"
    amp: bool = True
    channels_last: bool = True
    compile: bool = False
    eval_every: int = 1
    log_every: int = 10
    progress: bool = True
    tensorboard: bool = True
    resume: str = ""
    checkpoint: str = ""
    deterministic: bool = False
    sync_bn: bool = False

    def __post_init__(self) -> None:
        _positive("train.eval_every", self.eval_every)
        _positive("train.log_every", self.log_every)


@dataclass
class RecipeConfig:
    """How training is staged.

    ``standard``: one run. ``mfr``: W3's mature feature-guided regularisation (Sec. 3.4): stage 1
    trains a teacher (into ``<out_dir>/teacher``) unless ``teacher`` names a checkpoint; stage 2
    trains a student of the same architecture (into ``<out_dir>/student``) with cross-entropy plus
    ``mimic_weight`` x the per-frame L2 distance to the frozen teacher's refined features (eq. 9),
    divided by the square root of the values it runs over when ``mimic_normalize`` (the default:
    a root-mean-square difference per element whose size does not depend on the map's; measured
    53 x cross-entropy at the start of stage 2 for ResNet-50 at 224 px without it, see
    :mod:`vidaction.losses.distill`).
    ``hcml``: HCML's joint training (eq. 5) of a ``motion="pmb"`` backbone with its side branches:
    cross-entropy + ``reconstruction_weight`` x frame reconstruction + ``contrastive_weight`` x each
    level's contrastive loss on ``num_locations`` sampled positions, each level predicting
    ``prediction_steps`` future steps of the level below (0: every future step of that level's
    sequence, Sec. 3.2's ``P^{l-1}_{>t}``); checkpoints hold the side
    branches, :func:`vidaction.engine.experiment.load_trained_model` returns the deployed backbone.
    ``hcml_progressive``: HCML's two phases (Sec. 3): the progressive self-supervised phase, one
    stage per motion level (level 0 by frame reconstruction, then each higher level by its
    contrastive loss with everything that computes the lower levels' motion frozen, training the
    fusion ``g`` of the level below with it), ``level_epochs`` each with
    ``level_warmup_epochs`` of warm-up (BatchNorm synchronised across processes when
    ``level_sync_bn``), into ``<out_dir>/level<i>``; then the joint phase (as
    ``hcml``) from the last stage's weights into ``<out_dir>/joint``. ``hcml_pretrain``: the
    self-supervised phase alone (appendix D); ``<out_dir>/pretrained.pt`` holds the deployed
    backbone for ``model.pretrained`` of a fine-tuning run. Labels are not used by the
    self-supervised stages. A staged run started again in the same ``out_dir`` reuses the stages
    that finished. ``flow_hidden`` sets the widths of the HCML flow estimator's five layers (empty:
    PWC-Net's halved, 64 64 48 32 16); ``flow_levels`` puts flow estimators on further motion levels
    (Table 1's "preliminary" supervision per level, Fig. 3), each reconstruction weighted as level
    0's in the joint loss (empty: the first level only). ``gaf``: GAF's recognition loss (Table II) for a ``gaf_*``
    model: cross-entropy of the action-instance feature's class plus ``nonaction_weight`` x that of
    the non-action feature as background (eq. 12).
    """

    name: str = "standard"
    teacher: str = ""
    mimic_weight: float = 1.0
    mimic_normalize: bool = True
    reconstruction_weight: float = 15.0
    contrastive_weight: float = 0.25
    num_locations: int = 16
    prediction_steps: int = 0
    level_epochs: int = 10
    level_warmup_epochs: float = 1.0
    level_sync_bn: bool = False
    flow_hidden: list = field(default_factory=list)
    flow_levels: list = field(default_factory=list)
    nonaction_weight: float = 1.0

    def __post_init__(self) -> None:
        _one_of("recipe.name", self.name, ("standard", "mfr", "hcml", "hcml_progressive", "hcml_pretrain", "gaf"))
        _positive("recipe.num_locations", self.num_locations)
        if self.prediction_steps < 0:
            raise ConfigError(f"recipe.prediction_steps must be >= 0 (0: every future step), got "
                              f"{self.prediction_steps}")
        _positive("recipe.level_epochs", self.level_epochs)
        if not 0 <= self.level_warmup_epochs <= self.level_epochs:
            raise ConfigError(f"recipe.level_warmup_epochs must lie in [0, level_epochs={self.level_epochs}], "
                              f"got {self.level_warmup_epochs}")
        if self.reconstruction_weight < 0 or self.contrastive_weight < 0:
            raise ConfigError("recipe.reconstruction_weight and recipe.contrastive_weight must be >= 0")
        if self.mimic_weight < 0:
            raise ConfigError(f"recipe.mimic_weight must be >= 0, got {self.mimic_weight}")
        if self.flow_hidden and (len(self.flow_hidden) != 5 or min(self.flow_hidden) < 1):
            raise ConfigError(f"recipe.flow_hidden needs five positive widths (the flow estimator's layers), got "
                              f"{self.flow_hidden}")
        if self.teacher and self.name != "mfr":
            raise ConfigError("recipe.teacher is only used by recipe.name=mfr")


@dataclass
class ExperimentConfig:
    """The whole tree of a recognition run; the CLI splits it and hands each component its own part."""

    task: str = "recognition"
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    recipe: RecipeConfig = field(default_factory=RecipeConfig)


@dataclass
class DetectionDataConfig:
    """Untrimmed videos for temporal action detection, cut into windows (AFSD's pipeline).

    ``annotations`` is a THUMOS14 folder of ``<Class>_<subset>.txt`` files or an ActivityNet-style
    JSON (v1.3, or THUMOS14 converted); ``train_subset`` / ``val_subset`` name its subsets (THUMOS14
    trains on ``val`` and tests on ``test``; ActivityNet ``training`` / ``validation``). ``root`` holds
    the media, named by ``media_template`` from the video id: videos (``input=frames``,
    ``stream=rgb``), stored TV-L1 flow (``stream=flow``) or ``.npy`` feature files
    (``input=features``, ``feature_channels`` per step, ``feature_fps`` steps per second and
    ``feature_offset`` seconds of step 0, each 0 / -1 meaning "from the file's sidecar"). Windows of
    ``window`` steps start every ``train_stride`` / ``test_stride`` steps, with a final end-aligned
    one; ``fixed_length`` instead resamples each whole video to that many steps (ActivityNet: 768).
    """

    annotations: str = ""
    root: str = ""
    media_template: str = "{}.mp4"
    train_subset: str = "val"
    val_subset: str = "test"
    class_names: str = ""
    input: str = "frames"
    stream: str = "rgb"
    fps: float = 25.0
    resize: int = 112
    crop: int = 96
    flip: bool = True
    mean: list = field(default_factory=lambda: [0.5, 0.5, 0.5])
    std: list = field(default_factory=lambda: [0.5, 0.5, 0.5])
    feature_channels: int = 0
    feature_fps: float = 0.0
    feature_offset: float = -1.0
    window: int = 256
    train_stride: int = 30
    test_stride: int = 128
    min_overlap: float = 0.5
    fixed_length: int = 0
    boundary_tolerance: float = 1.0
    batch_size: int = 1
    num_workers: int = 2
    pin_memory: bool = True
    persistent_workers: bool = True
    max_bad_fraction: float = 0.05

    def __post_init__(self) -> None:
        _one_of("data.input", self.input, ("frames", "features"))
        _one_of("data.stream", self.stream, ("rgb", "flow"))
        for key in ("window", "train_stride", "test_stride", "batch_size"):
            _positive(f"data.{key}", getattr(self, key))
        if self.fps <= 0:
            raise ConfigError(f"data.fps must be positive, got {self.fps}")
        if self.input == "frames" and not 0 < self.crop <= self.resize:
            raise ConfigError(f"data.crop must lie in (0, data.resize={self.resize}], got {self.crop}")
        if self.input == "features" and self.feature_channels < 1:
            raise ConfigError("data.input=features needs data.feature_channels, the C of the (T, C) / (C, T, H, W) "
                              "feature files")
        if self.fixed_length < 0 or self.feature_fps < 0:
            raise ConfigError("data.fixed_length and data.feature_fps must be >= 0 (0: off / from the sidecar)")
        if not 0.0 < self.min_overlap <= 1.0:
            raise ConfigError(f"data.min_overlap must lie in (0, 1], got {self.min_overlap}")
        channels = 2 if self.stream == "flow" else 3
        if self.input == "frames" and (len(self.mean) != channels or len(self.std) != channels):
            raise ConfigError(f"data.mean and data.std need {channels} values for the {self.stream} stream")
        if not 0.0 <= self.max_bad_fraction <= 1.0:
            raise ConfigError(f"data.max_bad_fraction must lie in [0, 1], got {self.max_bad_fraction}")


@dataclass
class DetectorConfig:
    """The detector: AFSD's head on a backbone's endpoints (frame mode) or on features.

    ``backbone`` is a registered model (``i3d``) read at ``endpoints``, with ``backbone_options``
    for its builder and ``backbone_pretrained`` weights (e.g. the I3D port's ``rgb_imagenet.pt``);
    empty for feature input. The head options follow
    :class:`~vidaction.models.heads.afsd.AFSDHead`; ``distance_multipliers`` empty = 1 per level.
    ``pretrained`` loads a whole detector checkpoint. ``attention: gaf`` puts GAF's generative
    attention between the backbone (or features) and the head
    (:class:`~vidaction.models.generative.gaf.GenerativeAttention`, ``attention_options`` its
    arguments, e.g. ``attention_channels``, ``cvae_channels``, ``latent_size``); it trains with the
    ``gaf`` section's alternating schedule.
    """

    name: str = "afsd"
    num_classes: int = 0
    backbone: str = "i3d"
    backbone_options: dict = field(default_factory=dict)
    backbone_pretrained: str = ""
    endpoints: list = field(default_factory=lambda: ["Mixed_4f", "Mixed_5c"])
    pretrained: str = ""
    channels: int = 512
    proposal_channels: int = 512
    frame_channels: int = 512
    num_levels: int = 6
    tower_layers: int = 2
    norm_groups: int = 32
    distance_multipliers: list = field(default_factory=list)
    attention: str = ""
    attention_options: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        _one_of("model.name", self.name, ("afsd",))
        _one_of("model.attention", self.attention, ("", "gaf"))
        if self.num_classes < 0:
            raise ConfigError(f"model.num_classes must be >= 0 (0 = from the annotations), got {self.num_classes}")
        for key in ("channels", "proposal_channels", "frame_channels", "num_levels", "tower_layers", "norm_groups"):
            _positive(f"model.{key}", getattr(self, key))
        for key in ("channels", "proposal_channels", "frame_channels"):
            if getattr(self, key) % self.norm_groups:
                raise ConfigError(f"model.{key} ({getattr(self, key)}) must be a multiple of model.norm_groups "
                                  f"({self.norm_groups})")
        if self.distance_multipliers and len(self.distance_multipliers) != self.num_levels:
            raise ConfigError(f"model.distance_multipliers needs one value per level ({self.num_levels}), got "
                              f"{self.distance_multipliers}")


@dataclass
class DetectionLossConfig:
    """AFSD's loss weights (:func:`vidaction.losses.detection.afsd_loss`): ``piou`` gates the refined
    regression, ``loc_weight`` the coarse and refined tIoU/L1 terms, ``cls_weight`` the focal terms,
    ``boundary_weight`` / ``branch_boundary_weight`` the start/end consistency terms;
    ``contrastive_weight`` the boundary contrastive term (AFSD's and GAF's ``ssl = 0.1``) on a second
    forward of the training windows with a background stretch pasted into an instance
    (:mod:`vidaction.data.boundary_augment`); 0 skips that forward."""

    piou: float = 0.5
    loc_weight: float = 10.0
    cls_weight: float = 1.0
    boundary_weight: float = 1.0
    branch_boundary_weight: float = 0.1
    contrastive_weight: float = 0.1
    focal_gamma: float = 2.0
    background_alpha: float = 0.25

    def __post_init__(self) -> None:
        if not 0.0 <= self.piou < 1.0:
            raise ConfigError(f"loss.piou must lie in [0, 1), got {self.piou}")
        if min(self.loc_weight, self.cls_weight, self.boundary_weight, self.branch_boundary_weight,
               self.contrastive_weight) < 0:
            raise ConfigError("loss weights must be >= 0")
        if not 0.0 < self.background_alpha < 1.0:
            raise ConfigError(f"loss.background_alpha must lie in (0, 1), got {self.background_alpha}")


@dataclass
class DetectionTestConfig:
    """Decoding and evaluation (AFSD's test): candidates above ``score_threshold``, per-class Gaussian
    soft-NMS (``nms_sigma``, ``nms_top_k`` per class, score floor ``nms_score_threshold``), at most
    ``max_detections`` per video (0: all), mAP at ``tiou_thresholds`` (empty: 0.3:0.1:0.7 for THUMOS14
    folders and THUMOS-style JSON, 0.5:0.05:0.95 for ActivityNet). ``fuse_checkpoint`` names a second
    stream (flow for an RGB run) whose raw outputs are averaged with this one's (GAF Sec. IV-B)."""

    score_threshold: float = 0.01
    nms_sigma: float = 0.5
    nms_top_k: int = 5000
    nms_score_threshold: float = 0.001
    max_detections: int = 0
    tiou_thresholds: list = field(default_factory=list)
    fuse_checkpoint: str = ""

    def __post_init__(self) -> None:
        if self.nms_sigma <= 0:
            raise ConfigError(f"test.nms_sigma must be positive, got {self.nms_sigma}")
        _positive("test.nms_top_k", self.nms_top_k)
        if self.max_detections < 0:
            raise ConfigError(f"test.max_detections must be >= 0 (0 = all), got {self.max_detections}")
        for value in self.tiou_thresholds:
            if not 0.0 < float(value) <= 1.0:
                raise ConfigError(f"test.tiou_thresholds must lie in (0, 1], got {value}")


@dataclass
class GAFConfig:
    """GAF's training (Sec. III-B, Fig. 2, Sec. IV-B), used when ``model.attention=gaf``.

    Losses (eq. 14): ``alpha`` x L_clf + ``beta`` x L_reg with L_clf = L_clf_ai +
    ``nonaction_clf_weight`` x L_clf_n-ai and L_reg = the detector's loss on F' +
    ``nonaction_reg_weight`` x its background loss on the (1 - lambda) maps (35: the authors' code);
    ``nonaction=false`` leaves the non-action terms out (Table IV, first row). ``reconstruction``
    builds the frame-level CVAE and adds ``representation_weight`` x L_R (eq. 15), ramped up
    linearly over ``representation_ramp_epochs`` (0: all epochs; the code's ``0.5 min(e, E) / E``).
    L_R pulls the backbone's features towards the CVAE's reconstruction as well as training lambda,
    as the authors' code (``train.py:331-335``); ``representation_detach_features`` compares the
    reconstruction with detached features, so L_R trains lambda alone.
    The CVAE is trained by eq. 7 with ``kl_weight`` (beta, 0.1) and its own optimiser
    ``cvae_optim``: Adam, lr 1e-3, betas (0.8, 0.999), no weight decay, as the authors' code
    (``thumos14/train.py:423-425``, ``anet/train.py:358-360``; the paper's Adam, lr 1e-5, weight
    decay 1e-3, Sec. IV-B, is the code's optimiser of the detector, ``optim``), alternating with the detector
    ``alternate``: ``iteration`` (step 1 then step 2 on every batch) or ``epoch`` (odd epochs update
    the CVAE, even epochs the segment attention and the detector).
    """

    alpha: float = 1.0
    beta: float = 1.0
    nonaction: bool = True
    nonaction_clf_weight: float = 1.0
    nonaction_reg_weight: float = 35.0
    reconstruction: bool = True
    representation_weight: float = 0.5
    representation_ramp_epochs: int = 0
    representation_detach_features: bool = False
    kl_weight: float = 0.1
    alternate: str = "iteration"
    cvae_optim: OptimConfig = field(default_factory=lambda: OptimConfig(name="adam", lr=1e-3, betas=[0.8, 0.999],
                                                                        weight_decay=0.0, grad_clip=0.0))

    def __post_init__(self) -> None:
        _one_of("gaf.alternate", self.alternate, ("iteration", "epoch"))
        for key in ("alpha", "beta", "nonaction_clf_weight", "nonaction_reg_weight", "representation_weight",
                    "kl_weight"):
            if getattr(self, key) < 0:
                raise ConfigError(f"gaf.{key} must be >= 0, got {getattr(self, key)}")
        if self.representation_ramp_epochs < 0:
            raise ConfigError(f"gaf.representation_ramp_epochs must be >= 0, got {self.representation_ramp_epochs}")


@dataclass
class DetectionExperimentConfig:
    """The whole tree of a temporal-detection run (``task: detection`` at the top of its YAML)."""

    task: str = "detection"
    data: DetectionDataConfig = field(default_factory=DetectionDataConfig)
    model: DetectorConfig = field(default_factory=DetectorConfig)
    loss: DetectionLossConfig = field(default_factory=DetectionLossConfig)
    optim: OptimConfig = field(default_factory=lambda: OptimConfig(name="adam", lr=1e-5, weight_decay=1e-3,
                                                                   grad_clip=0.0))
    schedule: ScheduleConfig = field(default_factory=lambda: ScheduleConfig(epochs=16, policy="constant"))
    train: TrainConfig = field(default_factory=TrainConfig)
    test: DetectionTestConfig = field(default_factory=DetectionTestConfig)
    gaf: GAFConfig = field(default_factory=GAFConfig)


# The root dataclass of each task (the YAML's top-level ``task``, default recognition).
TASKS = {"recognition": ExperimentConfig, "detection": DetectionExperimentConfig}


# Formats whose evaluation split is chosen by data.eval_subset (the first is the default).
EVAL_SUBSETS = {"egogesture": ("val", "test"), "epic55": ("val", "test_s1", "test_s2")}


def _one_of(key: str, value: Any, allowed: tuple) -> None:
    if value not in allowed:
        raise ConfigError(f"{key} must be one of {list(allowed)}, got {value!r}")


def _positive(key: str, value: int) -> None:
    if value <= 0:
        raise ConfigError(f"{key} must be > 0, got {value}")


def _closest(name: str, candidates: list[str], prefix: str = "") -> str:
    match = difflib.get_close_matches(name, candidates, n=1, cutoff=0.0)
    return f"; did you mean {prefix + match[0]!r}?" if match else ""


def _section_types(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _coerce(key: str, value: Any, annotation: Any) -> Any:
    """Check ``value`` against a field annotation, converting int -> float where natural."""
    origin = typing.get_origin(annotation) or annotation
    if origin in (typing.Union, types.UnionType):
        return value
    if annotation is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    expected = {bool: bool, int: int, float: float, str: str, list: list, dict: dict}.get(origin)
    if expected is None:
        return value
    if expected is int and isinstance(value, bool):
        raise ConfigError(f"{key} expects an integer, got {value!r}")
    if expected is list and isinstance(value, tuple):
        return list(value)
    if expected is str and value is None:
        return ""
    if not isinstance(value, expected):
        raise ConfigError(f"{key} expects {expected.__name__}, got {value!r} ({type(value).__name__})")
    return value


def _build(cls: type, values: dict, prefix: str) -> Any:
    hints = _section_types(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    names = list(fields)
    kwargs = {}
    for key, value in values.items():
        if key not in names:
            raise ConfigError(f"unknown config key {prefix}{key}{_closest(key, names, prefix)}")
        annotation = hints[key]
        if dataclasses.is_dataclass(annotation):
            if not isinstance(value, dict):
                raise ConfigError(f"{prefix}{key} must be a mapping")
            # A section's own defaults (e.g. detection's Adam optimiser) apply under the given keys.
            factory = fields[key].default_factory
            defaults = dataclasses.asdict(factory()) if factory is not dataclasses.MISSING else {}
            kwargs[key] = _build(annotation, _merge(defaults, value), f"{prefix}{key}.")
        else:
            kwargs[key] = _coerce(f"{prefix}{key}", value, annotation)
    return cls(**kwargs)


def _merge(base: dict, override: dict) -> dict:
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict) and key != "options":
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _read_yaml(path: Path, seen: tuple[Path, ...] = ()) -> dict:
    path = path.resolve()
    if path in seen:
        raise ConfigError(f"{path}: _base_ cycle through {[str(p) for p in seen]}")
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: invalid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: top level must be a mapping of sections")
    base = raw.pop("_base_", None)
    if base is None:
        return raw
    parent = _read_yaml(path.parent / base, seen + (path,))
    return _merge(parent, raw)


def parse_override(text: str) -> tuple[list[str], Any]:
    """Split ``a.b.c=value`` into its key path and a YAML-parsed value."""
    if "=" not in text:
        raise ConfigError(f"override {text!r} is not of the form key=value (e.g. optim.lr=0.01)")
    key, raw = text.split("=", 1)
    if not key:
        raise ConfigError(f"override {text!r} has an empty key")
    try:
        value = yaml.safe_load(raw) if raw != "" else ""
    except yaml.YAMLError:
        value = raw
    return key.split("."), value


def _set_dotted(tree: dict, keys: list[str], value: Any, root: type) -> None:
    """Set ``tree[k0][k1]... = value``, validating each key against the schema of ``root``."""
    cls: Any = root
    node = tree
    for depth, key in enumerate(keys):
        path = ".".join(keys[: depth + 1])
        if cls is dict:
            if depth == len(keys) - 1:
                node[key] = value
            else:
                node = node.setdefault(key, {})
            continue
        names = [f.name for f in dataclasses.fields(cls)]
        if key not in names:
            parent = ".".join(keys[:depth])
            raise ConfigError(f"unknown config key {path}{_closest(key, names, parent + '.' if parent else '')}")
        annotation = _section_types(cls)[key]
        if depth == len(keys) - 1:
            node[key] = value
            return
        node = node.setdefault(key, {})
        cls = annotation if dataclasses.is_dataclass(annotation) else (dict if annotation is dict else None)
        if cls is None:
            raise ConfigError(f"config key {'.'.join(keys[:depth + 1])} is a value, not a section")


def config_from_dict(tree: dict, overrides: list[str] | tuple[str, ...] = ()) -> Any:
    """Build the config of the tree's ``task`` (:class:`ExperimentConfig` for recognition, the
    default; :class:`DetectionExperimentConfig` for detection) plus ``key=value`` overrides."""
    tree = copy.deepcopy(tree)
    parsed = [parse_override(text) for text in overrides]
    for keys, value in parsed:
        if keys == ["task"]:
            tree["task"] = value
    task = tree.get("task", "recognition")
    if task not in TASKS:
        raise ConfigError(f"task must be one of {list(TASKS)}, got {task!r}")
    for keys, value in parsed:
        _set_dotted(tree, keys, value, TASKS[task])
    return _build(TASKS[task], tree, "")


def load_config(path: str | Path | None, overrides: list[str] | tuple[str, ...] = ()) -> Any:
    """Read a YAML config (following ``_base_``) and apply dotted overrides."""
    tree = _read_yaml(Path(path)) if path else {}
    return config_from_dict(tree, overrides)


def config_to_dict(cfg: Any) -> dict:
    """The resolved config as plain data (for saving in the run folder and in checkpoints)."""
    return dataclasses.asdict(cfg)


def save_config(cfg: Any, path: str | Path) -> None:
    """Write the resolved config as YAML."""
    Path(path).write_text(yaml.safe_dump(config_to_dict(cfg), sort_keys=False))
