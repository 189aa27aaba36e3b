"""The schema of a temporal-detection run (``task: detection``): AFSD's pipeline, loss and test, GAF's training."""

from __future__ import annotations

from dataclasses import dataclass, field

from vidaction.config.common import ConfigError, OptimConfig, ScheduleConfig, TrainConfig, one_of, positive


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
    ``annotation_format`` ``afsd_thumos`` reads AFSD's and GAF's ``*_Annotation.csv`` (``annotations``)
    with its ``*_video_info.csv`` (``video_info``), ``{subset}`` in both paths standing for the subset
    (``thumos_annotations/{subset}_Annotation.csv``); ``afsd_anet`` their ``video_info_train_val.json``.
    Feature files must agree with their sidecars (:mod:`vidaction.data.feature_contract`) on
    ``stream`` (``rgb+flow``: two streams' features concatenated), ``feature_channels`` and, when set,
    ``feature_fps``, ``feature_stride`` (frames per feature step; 0: not checked) and
    ``feature_layout`` (``TC`` or ``CTHW``; empty: not checked), or the run stops before it starts.
    ``decoder`` reads video files (``input=frames``): ``pyav`` (default) or ``torchcodec``, as the
    recognition data's ``decoder``.
    """

    annotations: str = ""
    annotation_format: str = "auto"
    video_info: str = ""
    root: str = ""
    media_template: str = "{}.mp4"
    train_subset: str = "val"
    val_subset: str = "test"
    class_names: str = ""
    input: str = "frames"
    stream: str = "rgb"
    decoder: str = "pyav"
    fps: float = 25.0
    resize: int = 112
    crop: int = 96
    flip: bool = True
    mean: list = field(default_factory=lambda: [0.5, 0.5, 0.5])
    std: list = field(default_factory=lambda: [0.5, 0.5, 0.5])
    feature_channels: int = 0
    feature_fps: float = 0.0
    feature_offset: float = -1.0
    feature_stride: int = 0
    feature_layout: str = ""
    window: int = 256
    train_stride: int = 30
    test_stride: int = 128
    min_overlap: float = 0.5
    fixed_length: int = 0
    boundary_tolerance: float = 1.0
    outside_instances: str = "warn"
    batch_size: int = 1
    num_workers: int = 2
    pin_memory: bool = True
    persistent_workers: bool = True
    max_bad_fraction: float = 0.05

    def __post_init__(self) -> None:
        one_of("data.input", self.input, ("frames", "features"))
        one_of("data.decoder", self.decoder, ("pyav", "torchcodec"))
        one_of("data.outside_instances", self.outside_instances, ("warn", "error"))
        one_of("data.annotation_format", self.annotation_format, ("auto", "afsd_thumos", "afsd_anet"))
        if self.annotation_format == "afsd_thumos" and not self.video_info:
            raise ConfigError("data.annotation_format=afsd_thumos needs data.video_info, the *_video_info.csv of "
                              "data.annotations (e.g. thumos_annotations/{subset}_video_info.csv)")
        one_of("data.stream", self.stream, ("rgb", "flow", "rgb+flow") if self.input == "features" else ("rgb", "flow"))
        one_of("data.feature_layout", self.feature_layout, ("", "TC", "CTHW"))
        if self.feature_stride < 0:
            raise ConfigError(f"data.feature_stride must be >= 0 (0: not checked), got {self.feature_stride}")
        for key in ("window", "train_stride", "test_stride", "batch_size"):
            positive(f"data.{key}", getattr(self, key))
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
        one_of("model.name", self.name, ("afsd",))
        one_of("model.attention", self.attention, ("", "gaf"))
        if self.num_classes < 0:
            raise ConfigError(f"model.num_classes must be >= 0 (0 = from the annotations), got {self.num_classes}")
        for key in ("channels", "proposal_channels", "frame_channels", "num_levels", "tower_layers", "norm_groups"):
            positive(f"model.{key}", getattr(self, key))
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
        positive("test.nms_top_k", self.nms_top_k)
        if self.max_detections < 0:
            raise ConfigError(f"test.max_detections must be >= 0 (0 = all), got {self.max_detections}")
        for value in self.tiou_thresholds:
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 < value <= 1.0:
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
        one_of("gaf.alternate", self.alternate, ("iteration", "epoch"))
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
