"""Clips from labelled videos, with bad videos turned into counted, skippable items.

An item is ``{"clip": (3, T, H, W) | (V, 3, T, H, W) float32, "label": int, "index": int}``. A video
that cannot be decoded yields ``{"clip": None, ..., "error": "path: reason"}`` instead of raising,
so one corrupt file does not end an epoch; :func:`collate_clips` drops such items and lists them
under ``"bad"`` for the trainer to count and report. Randomness of item ``i`` in epoch ``e`` comes
from ``np.random.default_rng((seed, e, i))``: the same clips whatever the number of workers.
Persistent DataLoader workers hold their own copy of the dataset, so the epoch travels inside the
index: :class:`EpochSampler` yields ``e * len(dataset) + i``.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from vidaction.data.errors import VideoDecodeError
from vidaction.data.records import VideoRecord


class DecodeCache:
    """Least-recently-used store of whole decoded videos (per worker process)."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._store: OrderedDict[str, np.ndarray] = OrderedDict()

    def frames(self, reader, indices: Sequence[int]) -> np.ndarray:
        video = self._store.get(reader.path)
        if video is None:
            video = reader.get_frames(range(reader.num_frames))
            self._store[reader.path] = video
            if len(self._store) > self.capacity:
                self._store.popitem(last=False)
        else:
            self._store.move_to_end(reader.path)
        return video[list(indices)]


class VideoClipDataset(Dataset):
    """Sample ``num_clips`` clips per video with ``sampler`` and transform each with ``transform``."""

    def __init__(self, records: Sequence[VideoRecord], reader_factory: Callable[[VideoRecord], Any],
                 sampler: Callable, transform: Callable, num_clips: int = 1, train: bool = True,
                 seed: int = 0, decode_cache: int = 0) -> None:
        self.records = list(records)
        self.reader_factory = reader_factory
        self.sampler = sampler
        self.transform = transform
        self.num_clips = num_clips
        self.train = train
        self.seed = seed
        self.epoch = 0
        self.cache = DecodeCache(decode_cache) if decode_cache > 0 else None

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.records)

    def _read(self, record: VideoRecord, rng: np.random.Generator) -> list[np.ndarray]:
        reader = self.reader_factory(record)
        clips = self.sampler(record.num_frames or reader.num_frames, rng, num_clips=self.num_clips)
        flat = [i for clip in clips for i in clip]
        frames = self.cache.frames(reader, flat) if self.cache else reader.get_frames(flat)
        size = len(clips[0])
        return [frames[k * size:(k + 1) * size] for k in range(len(clips))]

    def __getitem__(self, index: int) -> dict[str, Any]:
        epoch, index = divmod(index, len(self.records)) if index >= len(self.records) else (self.epoch, index)
        record = self.records[index]
        rng = np.random.default_rng((self.seed, epoch, index))
        try:
            raw_clips = self._read(record, rng)
        except (VideoDecodeError, OSError) as exc:
            reason = str(exc) if isinstance(exc, VideoDecodeError) else f"{record.path}: {exc}"
            return {"clip": None, "label": record.label, "index": index, "error": reason}
        views, label = [], record.label
        for raw in raw_clips:
            clip, label = self.transform(raw, record.label, rng)
            views.append(clip)
        if self.train or (len(views) == 1 and views[0].dim() == 4):
            clip = views[0]
        else:
            clip = torch.cat([v if v.dim() == 5 else v.unsqueeze(0) for v in views])
        return {"clip": clip, "label": label, "index": index}


def collate_clips(items: list[dict[str, Any]]) -> dict[str, Any]:
    """Stack good items; bad ones (``clip is None``) are listed under ``"bad"``."""
    good = [item for item in items if item["clip"] is not None]
    bad = [item["error"] for item in items if item["clip"] is None]
    if not good:
        return {"clip": None, "label": torch.empty(0, dtype=torch.long),
                "index": torch.empty(0, dtype=torch.long), "bad": bad}
    return {
        "clip": torch.stack([item["clip"] for item in good]),
        "label": torch.tensor([item["label"] for item in good], dtype=torch.long),
        "index": torch.tensor([item["index"] for item in good], dtype=torch.long),
        "bad": bad,
    }


class EpochSampler(Sampler):
    """Wrap a sampler so each index carries the epoch: ``epoch * dataset_size + index``."""

    def __init__(self, base: Sampler, dataset_size: int) -> None:
        self.base = base
        self.dataset_size = dataset_size
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        if hasattr(self.base, "set_epoch"):
            self.base.set_epoch(epoch)

    def __iter__(self):
        offset = self.epoch * self.dataset_size
        return (offset + index for index in self.base)

    def __len__(self) -> int:
        return len(self.base)
