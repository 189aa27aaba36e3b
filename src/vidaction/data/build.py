"""From a :class:`DataConfig` to a dataset and its DataLoader."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Sampler, SequentialSampler

from vidaction.config import EVAL_SUBSETS, ConfigError, DataConfig, DetectionDataConfig
from vidaction.data.dataset import EpochSampler, VideoClipDataset, collate_clips
from vidaction.data.errors import VideoDecodeError
from vidaction.data.formats.egogesture import read_egogesture
from vidaction.data.formats.epic_kitchens import read_epic55
from vidaction.data.formats.filelist import filelist_class_names, read_filelist
from vidaction.data.formats.kinetics import read_kinetics
from vidaction.data.formats.something import read_sthv1, read_sthv2
from vidaction.data.formats.ucf101 import read_ucf101
from vidaction.data.frames import FrameFolderReader
from vidaction.data.labels import prefix_heads
from vidaction.data.records import VideoRecord
from vidaction.data.sampling import DenseSampler, SegmentSampler
from vidaction.data.transforms import build_test_transform, build_train_transform, flip_label_map
from vidaction.data.video import VideoReader
from vidaction.data.video_torchcodec import TorchcodecReader, video_reader_class

SPLITS = ("train", "val")
FRAME_FOLDER_FORMATS = ("sthv1", "egogesture", "epic55")


def read_annotations(cfg: DataConfig, split: str) -> tuple[list[VideoRecord], list[str]]:
    """``(records, class_names)`` of ``split`` ('train' or 'val') in the configured format."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {list(SPLITS)}, got {split!r}")
    if cfg.format == "ucf101":
        return read_ucf101(cfg.annotations, cfg.root, cfg.split, split)
    if cfg.format == "sthv1":
        return read_sthv1(cfg.annotations, cfg.root, split)
    if cfg.format == "sthv2":
        return read_sthv2(cfg.annotations, cfg.root, split, cfg.video_template or "{}.webm")
    if cfg.format == "kinetics":
        return read_kinetics(cfg.annotations, cfg.root, split, cfg.video_template)
    subset = "train" if split == "train" else cfg.eval_subset or EVAL_SUBSETS.get(cfg.format, ("val",))[0]
    if cfg.format == "egogesture":
        return read_egogesture(cfg.annotations, cfg.root, subset, fps=cfg.frame_fps)
    if cfg.format == "epic55":
        records, verbs, nouns = read_epic55(cfg.annotations, cfg.root, subset,
                                            val_participants=tuple(cfg.val_participants), fps=cfg.frame_fps)
        return records, prefix_heads({"verb": verbs, "noun": nouns})
    class_names = filelist_class_names(cfg.train_list, cfg.class_names or None)
    return read_filelist(cfg.train_list if split == "train" else cfg.val_list, cfg.root, class_names), class_names


class ReaderFactory:
    """Picklable ``record -> reader`` for DataLoader workers: for ``modality="video"`` a
    :class:`VideoReader`, or a :class:`TorchcodecReader` with ``decoder="torchcodec"`` (a
    :class:`ConfigError` here, in the main process, when torchcodec cannot be imported); a
    :class:`FrameFolderReader` (``frame_template`` numbered from ``start_index``, ``fps`` frames per
    second) for ``"frames"``."""

    def __init__(self, modality: str, frame_template: str = "{:05d}.jpg", start_index: int = 1,
                 fps: float = 12.0, decoder: str = "pyav") -> None:
        self.modality = modality
        self.frame_template = frame_template
        self.start_index = start_index
        self.fps = fps
        self.video_reader = video_reader_class(decoder) if modality == "video" else VideoReader

    def __call__(self, record: VideoRecord) -> VideoReader | TorchcodecReader | FrameFolderReader:
        if self.modality == "frames":
            return FrameFolderReader(record.path, self.frame_template, self.start_index, self.fps)
        return self.video_reader(record.path)


def build_dataset(cfg: DataConfig, split: str, seed: int = 0) -> tuple[VideoClipDataset, list[str]]:
    """The dataset of ``split`` ('train': training sampling and augmentation; 'val': test views)."""
    if cfg.format in FRAME_FOLDER_FORMATS and cfg.modality != "frames":
        raise ConfigError(f"data.format={cfg.format} lists JPEG frame folders; set data.modality=frames")
    records, class_names = read_annotations(cfg, split)
    if not records:
        raise ConfigError(f"no videos listed for split {split!r} in {cfg.annotations or cfg.train_list}")
    return build_dataset_for_records(cfg, records, split == "train", class_names, seed), class_names


def build_dataset_for_records(cfg: DataConfig, records: list[VideoRecord], train: bool,
                              class_names: list[str] | None = None, seed: int = 0) -> VideoClipDataset:
    """A dataset over given records with the configured sampling and transforms (e.g. for inference).

    Training gives one clip per video; testing ``test_clips x test_crops`` views.
    """
    if cfg.sampling == "segment":
        sampler = SegmentSampler(cfg.num_frames, train)
    else:
        sampler = DenseSampler(cfg.num_frames, cfg.frame_stride, train)
    if train:
        transform = build_train_transform(cfg, flip_label_map(cfg.flip_label_pairs, class_names or []))
    else:
        transform = build_test_transform(cfg)
    readers = ReaderFactory(cfg.modality, cfg.frame_template, cfg.frame_start_index, cfg.frame_fps, cfg.decoder)
    return VideoClipDataset(records, readers, sampler, transform,
                            num_clips=1 if train else cfg.test_clips, seed=seed, decode_cache=cfg.decode_cache)


def load_test_clip(cfg: DataConfig, path: str) -> Tensor:
    """All test views of one video, ``(V, 3, T, H, W)``; raises :class:`VideoDecodeError`."""
    item = build_dataset_for_records(cfg, [VideoRecord(path, -1)], train=False)[0]
    if item["clip"] is None:
        raise VideoDecodeError(path, item["error"].split(": ", 1)[-1])
    return item["clip"] if item["clip"].dim() == 5 else item["clip"].unsqueeze(0)


def build_loader(dataset: Dataset, cfg: DataConfig | DetectionDataConfig, train: bool, distributed: bool = False,
                 collate_fn: Callable[[list[dict[str, Any]]], dict[str, Any]] = collate_clips) -> DataLoader:
    """Batches of ``collate_fn`` dicts (:func:`collate_clips` by default) through an :class:`EpochSampler`.

    Training shuffles with a permutation seeded by ``(dataset.seed, epoch)`` (a one-replica
    DistributedSampler when not distributed) rather than the global torch generator, so a resumed
    run sees the same order; ``distributed`` splits the data across the process group. The loader
    draws its workers' seeds from its own generator (seeded by ``dataset.seed``), never from the
    global one: a new iterator (each epoch without persistent workers, once with them, again after a
    resume) would otherwise shift the global torch stream that dropout and the models' sampling
    draw from, and results would depend on the number of workers and on where a run was resumed.
    Items draw their own randomness from ``(seed, epoch, index)`` (:class:`EpochSeededDataset`).
    """
    base: Sampler[int]
    if distributed:
        base = DistributedSampler(dataset, shuffle=train, seed=dataset.seed, drop_last=train)
    elif train:
        base = DistributedSampler(dataset, num_replicas=1, rank=0, shuffle=True, seed=dataset.seed)
    else:
        base = SequentialSampler(dataset)
    workers = cfg.num_workers
    return DataLoader(dataset, batch_size=cfg.batch_size, sampler=EpochSampler(base, len(dataset)),
                      num_workers=workers, collate_fn=collate_fn,
                      generator=torch.Generator().manual_seed(dataset.seed),
                      pin_memory=cfg.pin_memory and torch.accelerator.is_available(),
                      persistent_workers=cfg.persistent_workers and workers > 0,
                      drop_last=train and len(base) >= cfg.batch_size)
