"""From a :class:`DataConfig` to a dataset and its DataLoader."""

from __future__ import annotations


from torch.utils.data import DataLoader, DistributedSampler, RandomSampler, SequentialSampler

from vidaction.config import DataConfig
from vidaction.data.dataset import EpochSampler, VideoClipDataset, collate_clips
from vidaction.data.errors import VideoDecodeError
from vidaction.data.formats.filelist import list_class_names, read_filelist
from vidaction.data.formats.kinetics import read_kinetics
from vidaction.data.formats.something import read_sthv1, read_sthv2
from vidaction.data.formats.ucf101 import read_ucf101
from vidaction.data.frames import FrameFolderReader
from vidaction.data.records import VideoRecord
from vidaction.data.sampling import DenseSampler, SegmentSampler
from vidaction.data.transforms import build_test_transform, build_train_transform, flip_label_map
from vidaction.data.video import VideoReader


def read_annotations(cfg: DataConfig, split: str) -> tuple[list[VideoRecord], list[str]]:
    """``(records, class_names)`` of ``split`` ('train' or 'val') in the configured format."""
    subset = "train" if split == "train" else "val"
    if cfg.format == "ucf101":
        return read_ucf101(cfg.annotations, cfg.root, cfg.split, subset)
    if cfg.format == "sthv1":
        return read_sthv1(cfg.annotations, cfg.root, subset)
    if cfg.format == "sthv2":
        return read_sthv2(cfg.annotations, cfg.root, subset, cfg.video_template or "{}.webm")
    if cfg.format == "kinetics":
        return read_kinetics(cfg.annotations, cfg.root, subset, cfg.video_template)
    names = list_class_names(cfg.train_list, cfg.class_names or None)
    records = read_filelist(cfg.train_list if subset == "train" else cfg.val_list, cfg.root, names)
    if names is None:
        names = [str(i) for i in range(max(r.label for r in records) + 1)]
    return records, names


def make_reader_factory(cfg: DataConfig):
    """A picklable callable ``record -> reader`` for the configured modality."""
    if cfg.modality == "frames":
        return _FrameReaderFactory(cfg.frame_template)
    return _video_reader


def _video_reader(record: VideoRecord) -> VideoReader:
    return VideoReader(record.path)


class _FrameReaderFactory:
    def __init__(self, template: str) -> None:
        self.template = template

    def __call__(self, record: VideoRecord) -> FrameFolderReader:
        return FrameFolderReader(record.path, self.template)


def build_dataset(cfg: DataConfig, split: str, seed: int = 0) -> tuple[VideoClipDataset, list[str]]:
    """The dataset of ``split`` with training or test sampling and transforms."""
    records, class_names = read_annotations(cfg, split)
    if not records:
        raise FileNotFoundError(f"no videos listed for split {split!r} in {cfg.annotations or cfg.train_list}")
    return build_dataset_for_records(cfg, records, split == "train", class_names, seed), class_names


def build_dataset_for_records(cfg: DataConfig, records: list[VideoRecord], train: bool,
                              class_names: list[str] | None = None, seed: int = 0) -> VideoClipDataset:
    """A dataset over given records with the configured sampling and transforms (e.g. for inference)."""
    if cfg.sampling == "segment":
        sampler = SegmentSampler(cfg.num_frames, train)
    else:
        sampler = DenseSampler(cfg.num_frames, cfg.frame_stride, train)
    if train:
        transform = build_train_transform(cfg, flip_label_map(cfg.flip_label_pairs, class_names or []))
    else:
        transform = build_test_transform(cfg)
    return VideoClipDataset(records, make_reader_factory(cfg), sampler, transform,
                            num_clips=1 if train else cfg.test_clips, train=train, seed=seed,
                            decode_cache=cfg.decode_cache)


def load_test_clip(cfg: DataConfig, path: str):
    """All test views of one video, ``(V, 3, T, H, W)``, or :class:`VideoDecodeError`."""
    item = build_dataset_for_records(cfg, [VideoRecord(path, -1)], train=False)[0]
    if item["clip"] is None:
        raise VideoDecodeError(path, item["error"].split(": ", 1)[-1])
    return item["clip"] if item["clip"].dim() == 5 else item["clip"].unsqueeze(0)


def build_loader(dataset: VideoClipDataset, cfg: DataConfig, train: bool, distributed: bool = False) -> DataLoader:
    """Batches of ``collate_clips`` dicts; a DistributedSampler splits the data across processes."""
    if distributed:
        base = DistributedSampler(dataset, shuffle=train, drop_last=train)
    else:
        base = RandomSampler(dataset) if train else SequentialSampler(dataset)
    workers = cfg.num_workers
    return DataLoader(dataset, batch_size=cfg.batch_size, sampler=EpochSampler(base, len(dataset)),
                      num_workers=workers, pin_memory=cfg.pin_memory,
                      persistent_workers=cfg.persistent_workers and workers > 0, collate_fn=collate_clips,
                      drop_last=train and len(dataset) >= cfg.batch_size)
