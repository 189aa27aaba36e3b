"""Clips from labelled videos, with undecodable videos turned into counted, skippable items.

An item is ``{"clip": (3, T, H, W) | (V, 3, T, H, W) float32, "label": int, "index": int}``, with
``V = num_clips x crops`` views when there is more than one. A video that cannot be decoded yields
``{"clip": None, "label": ..., "index": ..., "error": "path: reason"}`` instead of raising, so one
corrupt file does not end an epoch; :func:`collate_clips` drops such items and lists them under
``"bad"`` for the trainer to count against ``max_bad_fraction``.

Item ``i`` of epoch ``e`` draws all its randomness (sampling and augmentation) from
``np.random.default_rng((seed, e, i))``: the same clips whatever the number of workers. Persistent
DataLoader workers hold their own copy of the dataset, so the epoch travels inside the index:
:class:`EpochSampler` yields ``e * len(dataset) + i``; a plain index ``i < len(dataset)`` uses the
epoch given to :meth:`VideoClipDataset.set_epoch`.
"""

from __future__ import annotations

import itertools
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Protocol

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler, default_collate

from vidaction.data.errors import VideoDecodeError
from vidaction.data.records import VideoRecord
from vidaction.data.transforms import Transform


class FrameReader(Protocol):
    """What :class:`VideoReader` and :class:`FrameFolderReader` share."""

    path: str
    num_frames: int
    fps: float

    def timestamps(self) -> np.ndarray: ...

    def get_frames(self, indices: Sequence[int]) -> np.ndarray: ...


ClipSampler = Callable[[int, np.random.Generator, int], list[list[int]]]


class DecodeCache:
    """The decoded frames ``(N, H, W, 3) uint8`` of the ``capacity`` most recently used videos.

    Each DataLoader worker holds its own; worth it for small datasets that fit in memory.
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._videos: OrderedDict[str, np.ndarray] = OrderedDict()

    def get_frames(self, reader: FrameReader, indices: Sequence[int]) -> np.ndarray:
        """``reader.get_frames(indices)``, decoding the whole video on a miss."""
        video = self._videos.get(reader.path)
        if video is None:
            video = reader.get_frames(range(reader.num_frames))
            self._videos[reader.path] = video
            if len(self._videos) > self.capacity:
                self._videos.popitem(last=False)
        else:
            self._videos.move_to_end(reader.path)
        return video[list(indices)]


class EpochSeededDataset(Dataset):
    """A dataset whose item ``i`` of epoch ``e`` draws from ``np.random.default_rng((seed, e, i))``: an
    index ``e * len(self) + i`` (:class:`EpochSampler`) carries its epoch, a plain one takes the epoch
    of :meth:`set_epoch`. Subclasses set ``seed`` and ``epoch`` and define ``__len__``."""

    seed: int
    epoch: int

    def set_epoch(self, epoch: int) -> None:
        """The epoch used for plain indices (``i < len(self)``)."""
        self.epoch = epoch

    def epoch_item(self, index: int) -> tuple[int, int]:
        """``(epoch, item)`` of a dataset index."""
        return divmod(index, len(self)) if index >= len(self) else (self.epoch, index)


class VideoClipDataset(EpochSeededDataset):
    """``num_clips`` clips per video: indices from ``sampler``, frames from ``reader_factory(record)``,
    each clip ``uint8 (T, H, W, 3)`` passed through ``transform`` with the item's generator."""

    def __init__(self, records: Sequence[VideoRecord], reader_factory: Callable[[VideoRecord], FrameReader],
                 sampler: ClipSampler, transform: Transform, num_clips: int = 1, seed: int = 0,
                 decode_cache: int = 0) -> None:
        if num_clips < 1:
            raise ValueError(f"num_clips must be >= 1, got {num_clips}")
        self.records = list(records)
        self.reader_factory = reader_factory
        self.sampler = sampler
        self.transform = transform
        self.num_clips = num_clips
        self.seed = seed
        self.epoch = 0
        self.cache = DecodeCache(decode_cache) if decode_cache > 0 else None

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int) -> dict[str, Any]:
        epoch, index = self.epoch_item(index)
        record = self.records[index]
        rng = np.random.default_rng((self.seed, epoch, index))
        try:
            clips = self._read_clips(record, rng)
        except VideoDecodeError as exc:
            return {"clip": None, "label": record.label, "index": index, "error": str(exc)}
        except OSError as exc:
            return {"clip": None, "label": record.label, "index": index, "error": f"{record.path}: {exc}"}
        views, labels = [], []
        for frames in clips:
            view, label = self.transform(torch.from_numpy(frames), record.label, rng)
            views.append(view)
            labels.append(label)
        if len(set(labels)) > 1:
            raise ValueError(f"{record.path}: the clips of one item got different labels {labels}; "
                             "use label-swapping flips only with num_clips=1")
        if len(views) == 1:
            clip = views[0]
        else:
            clip = torch.cat([view if view.dim() == 5 else view.unsqueeze(0) for view in views])
        return {"clip": clip, "label": labels[0], "index": index}

    def _read_clips(self, record: VideoRecord, rng: np.random.Generator) -> list[np.ndarray]:
        """``num_clips`` arrays ``(T, H, W, 3) uint8``."""
        reader = self.reader_factory(record)
        first, count = _frame_range(record, reader)
        clips = self.sampler(count, rng, self.num_clips)
        flat = [first + i for clip in clips for i in clip]
        frames = self.cache.get_frames(reader, flat) if self.cache else reader.get_frames(flat)
        return np.split(frames, len(clips))


def _frame_range(record: VideoRecord, reader: FrameReader) -> tuple[int, int]:
    """``(first frame, frame count)`` of the record's ``[start, end)`` seconds, the whole file by default."""
    if record.start is None and record.end is None:
        return 0, reader.num_frames
    times = reader.timestamps()
    first = 0 if record.start is None else int(np.searchsorted(times, record.start, side="left"))
    stop = len(times) if record.end is None else int(np.searchsorted(times, record.end, side="left"))
    if stop <= first:
        raise VideoDecodeError(record.path, f"no frames between {record.start} s and {record.end} s "
                                            f"(video is {len(times)} frames)")
    return first, stop - first


def collate_clips(items: list[dict[str, Any]]) -> dict[str, Any]:
    """Stack the good items: ``{"clip": (B, ...) | None, "label": (B,), "index": (B,), "bad": [str]}``;
    bad ones (``clip is None``) only add their ``"error"`` to ``"bad"``."""
    good = [item for item in items if item["clip"] is not None]
    bad = [item["error"] for item in items if item["clip"] is None]
    return {
        # default_collate stacks straight into shared memory inside a worker, saving a copy of the batch
        "clip": default_collate([item["clip"] for item in good]) if good else None,
        "label": torch.tensor([item["label"] for item in good], dtype=torch.long),
        "index": torch.tensor([item["index"] for item in good], dtype=torch.long),
        "bad": bad,
    }


class EpochSampler(Sampler[int]):
    """Wrap a sampler so each index carries the epoch: ``epoch * dataset_size + index``.

    :meth:`skip_next` drops the first indices of the next pass only: a run resumed inside an epoch
    continues at the exact next sample (the sampler runs in the main process, so this holds with
    persistent workers too).
    """

    def __init__(self, base: Sampler[int], dataset_size: int) -> None:
        self.base = base
        self.dataset_size = dataset_size
        self.epoch = 0
        self.skip = 0

    def set_epoch(self, epoch: int) -> None:
        """Set this and the wrapped sampler's epoch (a DistributedSampler reshuffles with it)."""
        self.epoch = epoch
        if hasattr(self.base, "set_epoch"):
            self.base.set_epoch(epoch)

    def skip_next(self, count: int) -> None:
        """Leave out the first ``count`` indices of the next pass."""
        self.skip = count

    def __iter__(self) -> Iterator[int]:
        offset, skip = self.epoch * self.dataset_size, self.skip
        self.skip = 0
        return (offset + index for index in itertools.islice(self.base, skip, None))

    def __len__(self) -> int:
        return max(len(self.base) - self.skip, 0)
