"""Clip transforms with one set of random parameters per clip.

A clip enters as ``uint8 (T, H, W, 3)`` (what the readers return), becomes a ``(T, 3, H, W)``
view in :class:`ToTensor`, stays ``uint8`` through crops and flips (a resize yields ``float32``),
and leaves :class:`Normalize` as ``float32 (3, T, H, W)`` or, after a multi-crop,
``(V, 3, T, H, W)``: frames already stored at the working size are never converted in full. Every transform is ``(clip, label, rng) -> (clip,
label)`` so a horizontal flip can swap left/right classes (Something-Something's "from left to
right" vs "from right to left"). Resizing is one vectorised ``interpolate`` over all frames.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from vidaction.config import DataConfig


def _resize(clip: Tensor, height: int, width: int) -> Tensor:
    if clip.shape[-2:] == (height, width):
        return clip
    return F.interpolate(clip.float(), size=(height, width), mode="bilinear", align_corners=False, antialias=True)


class ToTensor:
    """``uint8 (T, H, W, 3)`` (numpy or torch) -> a ``(T, 3, H, W)`` view, values in [0, 255]."""

    def __call__(self, clip, label: int, rng: np.random.Generator) -> tuple[Tensor, int]:
        clip = torch.as_tensor(np.asarray(clip))
        return clip.permute(0, 3, 1, 2), label


class Resize:
    """Resize so the shorter side is ``short_side``, keeping the aspect ratio."""

    def __init__(self, short_side: int) -> None:
        self.short_side = short_side

    def __call__(self, clip: Tensor, label: int, rng: np.random.Generator) -> tuple[Tensor, int]:
        h, w = clip.shape[-2:]
        scale = self.short_side / min(h, w)
        return _resize(clip, max(round(h * scale), 1), max(round(w * scale), 1)), label


class MultiScaleCrop:
    """TSN's multi-scale crop: a crop of side ``min(H, W) * s`` per axis (``s`` from ``scales``, the
    two scales at most ``max_distort`` apart), at a random or one of 5 (13 with ``more_fix_crop``)
    fixed positions, resized to ``size x size``."""

    def __init__(self, size: int, scales: Sequence[float] = (1, 0.875, 0.75, 0.66), max_distort: int = 1,
                 fix_crop: bool = True, more_fix_crop: bool = True) -> None:
        self.size = size
        self.scales = tuple(scales)
        self.max_distort = max_distort
        self.fix_crop = fix_crop
        self.more_fix_crop = more_fix_crop

    def _offsets(self, w: int, h: int, cw: int, ch: int) -> list[tuple[int, int]]:
        sw, sh = (w - cw) // 4, (h - ch) // 4
        offsets = [(0, 0), (4 * sw, 0), (0, 4 * sh), (4 * sw, 4 * sh), (2 * sw, 2 * sh)]
        if self.more_fix_crop:
            offsets += [(0, 2 * sh), (4 * sw, 2 * sh), (2 * sw, 4 * sh), (2 * sw, 0),
                        (sw, sh), (3 * sw, sh), (sw, 3 * sh), (3 * sw, 3 * sh)]
        return offsets

    def __call__(self, clip: Tensor, label: int, rng: np.random.Generator) -> tuple[Tensor, int]:
        h, w = clip.shape[-2:]
        base = min(h, w)
        sizes = [int(base * s) for s in self.scales]
        sizes = [self.size if abs(s - self.size) < 3 else s for s in sizes]
        pairs = [(sw, sh) for i, sh in enumerate(sizes) for j, sw in enumerate(sizes) if abs(i - j) <= self.max_distort]
        cw, ch = pairs[rng.integers(len(pairs))]
        cw, ch = min(cw, w), min(ch, h)
        if self.fix_crop:
            x, y = self._offsets(w, h, cw, ch)[rng.integers(len(self._offsets(w, h, cw, ch)))]
        else:
            x, y = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
        return _resize(clip[..., y:y + ch, x:x + cw], self.size, self.size), label


class RandomResizedCrop:
    """Inception-style crop: random area fraction in ``scale`` and aspect ratio in ``ratio``."""

    def __init__(self, size: int, scale: tuple[float, float] = (0.08, 1.0),
                 ratio: tuple[float, float] = (3 / 4, 4 / 3)) -> None:
        self.size = size
        self.scale = scale
        self.ratio = ratio

    def __call__(self, clip: Tensor, label: int, rng: np.random.Generator) -> tuple[Tensor, int]:
        h, w = clip.shape[-2:]
        for _ in range(10):
            area = h * w * rng.uniform(*self.scale)
            aspect = np.exp(rng.uniform(np.log(self.ratio[0]), np.log(self.ratio[1])))
            cw, ch = round(np.sqrt(area * aspect)), round(np.sqrt(area / aspect))
            if 0 < cw <= w and 0 < ch <= h:
                x, y = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
                return _resize(clip[..., y:y + ch, x:x + cw], self.size, self.size), label
        return CenterCrop(self.size)(_resize(clip, max(self.size, h), max(self.size, w)), label, rng)


class CenterCrop:
    """The central ``size x size`` crop."""

    def __init__(self, size: int) -> None:
        self.size = size

    def __call__(self, clip: Tensor, label: int, rng: np.random.Generator) -> tuple[Tensor, int]:
        h, w = clip.shape[-2:]
        if h < self.size or w < self.size:
            raise ValueError(f"frame {h}x{w} is smaller than the crop {self.size}")
        y, x = (h - self.size) // 2, (w - self.size) // 2
        return clip[..., y:y + self.size, x:x + self.size], label


class ThreeCrop:
    """Three ``size x size`` crops along the longer side (start, centre, end): ``(3, T, 3, S, S)``."""

    def __init__(self, size: int) -> None:
        self.size = size

    def __call__(self, clip: Tensor, label: int, rng: np.random.Generator) -> tuple[Tensor, int]:
        h, w = clip.shape[-2:]
        s = self.size
        if h < s or w < s:
            raise ValueError(f"frame {h}x{w} is smaller than the crop {s}")
        if w >= h:
            y = (h - s) // 2
            crops = [clip[..., y:y + s, x:x + s] for x in (0, (w - s) // 2, w - s)]
        else:
            x = (w - s) // 2
            crops = [clip[..., y:y + s, x:x + s] for y in (0, (h - s) // 2, h - s)]
        return torch.stack(crops), label


class RandomHorizontalFlip:
    """Mirror the whole clip with probability ``p``; ``label_map`` swaps mirrored classes."""

    def __init__(self, p: float = 0.5, label_map: dict[int, int] | None = None) -> None:
        self.p = p
        self.label_map = label_map or {}

    def __call__(self, clip: Tensor, label: int, rng: np.random.Generator) -> tuple[Tensor, int]:
        if rng.random() < self.p:
            return clip.flip(-1), self.label_map.get(label, label)
        return clip, label


class Normalize:
    """``(x / 255 - mean) / std`` and channels first: ``(T, 3, H, W) -> (3, T, H, W)``
    (``(V, T, 3, H, W) -> (V, 3, T, H, W)`` for multi-crop views)."""

    def __init__(self, mean: Sequence[float], std: Sequence[float]) -> None:
        self.mean = torch.tensor(mean, dtype=torch.float32).view(3, 1, 1) * 255.0
        self.std = torch.tensor(std, dtype=torch.float32).view(3, 1, 1) * 255.0

    def __call__(self, clip: Tensor, label: int, rng: np.random.Generator) -> tuple[Tensor, int]:
        clip = (clip.transpose(-4, -3).float() - self.mean[:, None]) / self.std[:, None]
        return clip.contiguous(), label


class Compose:
    """Apply transforms in order, threading the label and the generator."""

    def __init__(self, transforms: Sequence) -> None:
        self.transforms = list(transforms)

    def __call__(self, clip, label: int, rng: np.random.Generator) -> tuple[Tensor, int]:
        for transform in self.transforms:
            clip, label = transform(clip, label, rng)
        return clip, label


def flip_label_map(pairs: Sequence[Sequence[str]], class_names: Sequence[str]) -> dict[int, int]:
    """``[[a, b], ...]`` class-name pairs -> a symmetric ``{index_a: index_b, index_b: index_a}``."""
    index = {name: i for i, name in enumerate(class_names)}
    mapping = {}
    for first, second in pairs:
        for name in (first, second):
            if name not in index:
                raise ValueError(f"data.flip_label_pairs names unknown class {name!r}")
        mapping[index[first]], mapping[index[second]] = index[second], index[first]
    return mapping


def build_train_transform(cfg: DataConfig, label_map: dict[int, int] | None = None) -> Compose:
    """Resize, the configured crop, optional flip, normalise."""
    crops = {"multiscale": MultiScaleCrop(cfg.input_size), "random_resized": RandomResizedCrop(cfg.input_size),
             "center": CenterCrop(cfg.input_size)}
    steps = [ToTensor(), Resize(cfg.resize_short), crops[cfg.train_crop]]
    if cfg.flip:
        steps.append(RandomHorizontalFlip(0.5, label_map))
    steps.append(Normalize(cfg.mean, cfg.std))
    return Compose(steps)


def build_test_transform(cfg: DataConfig) -> Compose:
    """Resize, centre crop (``test_crops=1``) or three crops (``test_crops=3``), normalise."""
    crop = CenterCrop(cfg.input_size) if cfg.test_crops == 1 else ThreeCrop(cfg.input_size)
    return Compose([ToTensor(), Resize(cfg.resize_short), crop, Normalize(cfg.mean, cfg.std)])
