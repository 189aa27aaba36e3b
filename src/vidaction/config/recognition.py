"""The schema of a recognition run (``task: recognition``, the default): data, model, and the tree."""

from __future__ import annotations

from dataclasses import dataclass, field

from vidaction.config.common import ConfigError, OptimConfig, ScheduleConfig, TrainConfig, one_of, positive
from vidaction.config.recipes import RecipeConfig

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# Formats whose evaluation split is chosen by data.eval_subset (the first is the default).
EVAL_SUBSETS = {"egogesture": ("val", "test"), "epic55": ("val", "test_s1", "test_s2")}


@dataclass
class DataConfig:
    """Where the videos are, how clips are sampled and transformed, how they are batched.

    ``format`` picks the annotation reader (:func:`vidaction.data.build.read_annotations`):
    ``ucf101`` (``annotations`` is the folder holding ``classInd.txt`` and
    ``trainlistNN.txt``/``testlistNN.txt``), ``sthv1`` (folder holding the three ``;``-separated
    CSVs), ``sthv2`` (folder holding the labels JSON and the train/validation JSONs), ``kinetics``
    (folder holding ``train.csv``/``validate.csv``/``test.csv``), ``egogesture`` and ``epic55`` (their
    label folders), ``list`` (``path label`` files instead of ``annotations``).

    The format-specific fields, read only by the formats named (the rest apply to every format):

    - ``split`` (ucf101): the NN of ``trainlistNN.txt``/``testlistNN.txt``.
    - ``train_list``, ``val_list``, ``class_names`` (list): the two lists and an optional file of
      class names, one a line.
    - ``video_template`` (sthv2, kinetics): a video's file name under ``root`` (empty: ``{}.webm`` for
      sthv2, ``{split}/{label}/{youtube_id}_{time_start:06d}_{time_end:06d}.mp4`` for kinetics).
    - ``eval_subset`` (egogesture, epic55): the evaluation subset, one of :data:`EVAL_SUBSETS`.
    - ``val_participants`` (epic55): the participants whose training segments form ``val``.
    - ``frame_fps`` (egogesture, epic55): the frame rate that turns annotated frame numbers into
      seconds; also the rate of every ``modality=frames`` reader.
    - ``modality``, ``frame_template``, ``frame_start_index`` (any format; sthv1, egogesture and epic55
      need ``modality=frames``): JPEG frame folders instead of video files, frame ``i`` being
      ``frame_template.format(frame_start_index + i)``.

    ``decoder`` reads video files: ``pyav`` (default) or ``torchcodec`` (the optional extra
    ``vidaction[torchcodec]``; :mod:`vidaction.data.video_torchcodec`); both give the same frames.
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
    decoder: str = "pyav"

    def __post_init__(self) -> None:
        one_of("data.format", self.format, ("ucf101", "sthv1", "sthv2", "kinetics", "list", "egogesture", "epic55"))
        one_of("data.modality", self.modality, ("video", "frames"))
        one_of("data.sampling", self.sampling, ("segment", "dense"))
        one_of("data.decoder", self.decoder, ("pyav", "torchcodec"))
        one_of("data.train_crop", self.train_crop, ("multiscale", "random_resized", "center", "scale_jitter"))
        if self.train_crop == "scale_jitter":
            if len(self.short_side_range) != 2 or not self.input_size <= self.short_side_range[0] <= \
                    self.short_side_range[1]:
                raise ConfigError(f"data.train_crop=scale_jitter needs data.short_side_range=[min, max] with "
                                  f"data.input_size ({self.input_size}) <= min <= max, got {self.short_side_range}")
        elif self.short_side_range:
            raise ConfigError("data.short_side_range is used only by data.train_crop=scale_jitter")
        one_of("data.test_crops", self.test_crops, (1, 3, 10))
        positive("data.num_frames", self.num_frames)
        positive("data.frame_stride", self.frame_stride)
        positive("data.test_clips", self.test_clips)
        positive("data.batch_size", self.batch_size)
        if self.input_size > self.resize_short:
            raise ConfigError(
                f"data.input_size ({self.input_size}) is larger than data.resize_short "
                f"({self.resize_short}); a crop cannot exceed the resized frame"
            )
        if self.frame_fps <= 0:
            raise ConfigError(f"data.frame_fps must be positive, got {self.frame_fps}")
        if self.format in EVAL_SUBSETS:
            one_of("data.eval_subset", self.eval_subset or EVAL_SUBSETS[self.format][0], EVAL_SUBSETS[self.format])
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
class ExperimentConfig:
    """The whole tree of a recognition run; the CLI splits it and hands each component its own part."""

    task: str = "recognition"
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    recipe: RecipeConfig = field(default_factory=RecipeConfig)
