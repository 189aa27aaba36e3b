"""Clip transforms with one set of random parameters per clip.

Every transform is a callable ``(clip, label, rng) -> (clip, label)``: the label travels with the
clip so a horizontal flip can swap mirrored classes (Something-Something's "from left to right" and
"from right to left"), and ``rng`` (``np.random.Generator``) is the only source of randomness, so a
clip is reproducible from its generator's seed.

A clip enters as ``torch.uint8 (T, H, W, 3)``, the readers' layout, and stays channels-last uint8
through resizes, crops and flips (a multi-crop adds a leading view axis: ``(V, T, H, W, 3)``);
:class:`Normalize` converts once, at the working size, to ``float32 (3, T, H, W)`` or
``(V, 3, T, H, W)``. Resizing is one antialiased bilinear ``interpolate`` over all frames; uint8
channels-last is its fastest CPU path.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from vidaction.config import DataConfig

Transform = Callable[[Tensor, int, np.random.Generator], tuple[Tensor, int]]


def resize_frames(clip: Tensor, height: int, width: int) -> Tensor:
    """``(..., T, H, W, 3) -> (..., T, height, width, 3)``, antialiased bilinear, dtype kept."""
    if clip.shape[-3:-1] == (height, width):
        return clip
    lead = clip.shape[:-3]
    frames = clip.reshape(-1, *clip.shape[-3:]).permute(0, 3, 1, 2)
    resized = F.interpolate(frames, size=(height, width), mode="bilinear", align_corners=False, antialias=True)
    return resized.permute(0, 2, 3, 1).reshape(*lead, height, width, 3)


def _frame_fits(clip: Tensor, size: int) -> tuple[int, int]:
    """The clip's ``(H, W)``; a frame smaller than a ``size x size`` crop is an error."""
    h, w = clip.shape[-3:-1]
    if h < size or w < size:
        raise ValueError(f"frame {h}x{w} is smaller than the crop {size}")
    return h, w


def _crop(clip: Tensor, top: int, left: int, height: int, width: int) -> Tensor:
    return clip[..., top:top + height, left:left + width, :]


class Resize:
    """Resize so the shorter side is ``short_side``, keeping the aspect ratio."""

    def __init__(self, short_side: int) -> None:
        self.short_side = short_side

    def __call__(self, clip: Tensor, label: int, rng: np.random.Generator) -> tuple[Tensor, int]:
        h, w = clip.shape[-3:-1]
        scale = self.short_side / min(h, w)
        return resize_frames(clip, max(round(h * scale), 1), max(round(w * scale), 1)), label


class RandomShortSideScale:
    """Resize so the shorter side is drawn uniformly from the integers ``min_side .. max_side``
    (SlowFast-style scale jittering; HCML App. B.2: [256, 320] for R2D-50, [256, 340] for R(2+1)D-101)."""

    def __init__(self, min_side: int, max_side: int) -> None:
        if not 0 < min_side <= max_side:
            raise ValueError(f"need 0 < min_side <= max_side, got {min_side}, {max_side}")
        self.min_side, self.max_side = min_side, max_side

    def __call__(self, clip: Tensor, label: int, rng: np.random.Generator) -> tuple[Tensor, int]:
        return Resize(int(rng.integers(self.min_side, self.max_side + 1)))(clip, label, rng)


class RandomCrop:
    """A ``size x size`` crop at a uniformly random position."""

    def __init__(self, size: int) -> None:
        self.size = size

    def __call__(self, clip: Tensor, label: int, rng: np.random.Generator) -> tuple[Tensor, int]:
        h, w = _frame_fits(clip, self.size)
        top, left = int(rng.integers(0, h - self.size + 1)), int(rng.integers(0, w - self.size + 1))
        return _crop(clip, top, left, self.size, self.size), label


class MultiScaleCrop:
    """TSN's ``GroupMultiScaleCrop`` (Wang et al. 2016: "corner cropping and scale-jittering").

    Crop width and height are each ``int(min(H, W) * s)`` for ``s`` in ``scales`` (snapped to
    ``size`` within 3 pixels), their two scale indices at most ``max_distort`` apart; the crop sits
    at one of 5 fixed positions (corners and centre; 13 with ``more_fix_crop``) or, without
    ``fix_crop``, anywhere; it is then resized to ``size x size``.
    """

    def __init__(self, size: int, scales: Sequence[float] = (1, 0.875, 0.75, 0.66), max_distort: int = 1,
                 fix_crop: bool = True, more_fix_crop: bool = True) -> None:
        self.size = size
        self.scales = tuple(scales)
        self.max_distort = max_distort
        self.fix_crop = fix_crop
        self.more_fix_crop = more_fix_crop

    def fixed_offsets(self, height: int, width: int, crop_h: int, crop_w: int) -> list[tuple[int, int]]:
        """``(top, left)`` of the fixed crop positions, on a grid of quarter steps."""
        sh, sw = (height - crop_h) // 4, (width - crop_w) // 4
        steps = [(0, 0), (0, 4), (4, 0), (4, 4), (2, 2)]
        if self.more_fix_crop:
            steps += [(2, 0), (2, 4), (4, 2), (0, 2), (1, 1), (1, 3), (3, 1), (3, 3)]
        return [(i * sh, j * sw) for i, j in steps]

    def get_params(self, height: int, width: int, rng: np.random.Generator) -> tuple[int, int, int, int]:
        """``(top, left, crop_h, crop_w)`` of one random crop of a ``height x width`` frame."""
        sizes = [int(min(height, width) * s) for s in self.scales]
        sizes = [self.size if abs(s - self.size) < 3 else s for s in sizes]
        pairs = [(ch, cw) for i, ch in enumerate(sizes) for j, cw in enumerate(sizes)
                 if abs(i - j) <= self.max_distort]
        crop_h, crop_w = pairs[rng.integers(len(pairs))]
        crop_h, crop_w = min(crop_h, height), min(crop_w, width)
        if self.fix_crop:
            offsets = self.fixed_offsets(height, width, crop_h, crop_w)
            top, left = offsets[rng.integers(len(offsets))]
        else:
            top, left = int(rng.integers(0, height - crop_h + 1)), int(rng.integers(0, width - crop_w + 1))
        return top, left, crop_h, crop_w

    def __call__(self, clip: Tensor, label: int, rng: np.random.Generator) -> tuple[Tensor, int]:
        params = self.get_params(*clip.shape[-3:-1], rng)
        return resize_frames(_crop(clip, *params), self.size, self.size), label


class RandomResizedCrop:
    """Inception-style crop (as torchvision's): area fraction in ``scale``, aspect ratio log-uniform in
    ``ratio``; after 10 failed draws, the central crop of the nearest allowed ratio. Resized to ``size x size``."""

    def __init__(self, size: int, scale: tuple[float, float] = (0.08, 1.0),
                 ratio: tuple[float, float] = (3 / 4, 4 / 3)) -> None:
        self.size = size
        self.scale = scale
        self.ratio = ratio

    def get_params(self, height: int, width: int, rng: np.random.Generator) -> tuple[int, int, int, int]:
        """``(top, left, crop_h, crop_w)`` of one random crop of a ``height x width`` frame."""
        log_ratio = np.log(self.ratio)
        for _ in range(10):
            area = height * width * rng.uniform(*self.scale)
            aspect = np.exp(rng.uniform(*log_ratio))
            crop_w, crop_h = round(np.sqrt(area * aspect)), round(np.sqrt(area / aspect))
            if 0 < crop_w <= width and 0 < crop_h <= height:
                return (int(rng.integers(0, height - crop_h + 1)), int(rng.integers(0, width - crop_w + 1)),
                        crop_h, crop_w)
        aspect = width / height
        if aspect < min(self.ratio):
            crop_w, crop_h = width, round(width / min(self.ratio))
        elif aspect > max(self.ratio):
            crop_w, crop_h = round(height * max(self.ratio)), height
        else:
            crop_w, crop_h = width, height
        return (height - crop_h) // 2, (width - crop_w) // 2, crop_h, crop_w

    def __call__(self, clip: Tensor, label: int, rng: np.random.Generator) -> tuple[Tensor, int]:
        params = self.get_params(*clip.shape[-3:-1], rng)
        return resize_frames(_crop(clip, *params), self.size, self.size), label


class _FixedCrops(ABC):
    """``size x size`` crops of the whole clip at the ``(top, left)`` corners :meth:`corners` places in
    an ``H x W`` frame."""

    def __init__(self, size: int) -> None:
        self.size = size

    @abstractmethod
    def corners(self, h: int, w: int) -> list[tuple[int, int]]:
        """``(top, left)`` of each crop in an ``h x w`` frame."""

    def crops(self, clip: Tensor) -> list[Tensor]:
        """``(T, H, W, 3)`` -> one ``(T, size, size, 3)`` view per corner."""
        h, w = _frame_fits(clip, self.size)
        return [_crop(clip, top, left, self.size, self.size) for top, left in self.corners(h, w)]


class CenterCrop(_FixedCrops):
    """The central ``size x size`` crop."""

    def corners(self, h: int, w: int) -> list[tuple[int, int]]:
        return [((h - self.size) // 2, (w - self.size) // 2)]

    def __call__(self, clip: Tensor, label: int, rng: np.random.Generator) -> tuple[Tensor, int]:
        return self.crops(clip)[0], label


class ThreeCrop(_FixedCrops):
    """Three ``size x size`` crops along the longer side (left, centre, right or top, centre,
    bottom), centred on the shorter: ``(T, H, W, 3) -> (3, T, size, size, 3)``."""

    def corners(self, h: int, w: int) -> list[tuple[int, int]]:
        s = self.size
        if w >= h:
            return [((h - s) // 2, left) for left in (0, (w - s) // 2, w - s)]
        return [(top, (w - s) // 2) for top in (0, (h - s) // 2, h - s)]

    def __call__(self, clip: Tensor, label: int, rng: np.random.Generator) -> tuple[Tensor, int]:
        return torch.stack(self.crops(clip)), label


class TenCrop(_FixedCrops):
    """The four corner crops and the centre crop, each also mirrored (TSN's 10-crop "oversample"
    testing): ``(T, H, W, 3) -> (10, T, size, size, 3)``, unflipped views first."""

    def corners(self, h: int, w: int) -> list[tuple[int, int]]:
        s = self.size
        return [(0, 0), (0, w - s), (h - s, 0), (h - s, w - s), ((h - s) // 2, (w - s) // 2)]

    def __call__(self, clip: Tensor, label: int, rng: np.random.Generator) -> tuple[Tensor, int]:
        views = self.crops(clip)
        return torch.stack(views + [view.flip(-2) for view in views]), label


class RandomHorizontalFlip:
    """Mirror the whole clip with probability ``p``; ``label_map`` maps a class to its mirror image."""

    def __init__(self, p: float = 0.5, label_map: dict[int, int] | None = None) -> None:
        self.p = p
        self.label_map = dict(label_map or {})

    def __call__(self, clip: Tensor, label: int, rng: np.random.Generator) -> tuple[Tensor, int]:
        if rng.random() < self.p:
            return clip.flip(-2), self.label_map.get(label, label)
        return clip, label


class Normalize:
    """``(x / 255 - mean) / std`` per RGB channel, channels first:
    ``(T, H, W, 3) -> float32 (3, T, H, W)``, ``(V, T, H, W, 3) -> (V, 3, T, H, W)``."""

    def __init__(self, mean: Sequence[float], std: Sequence[float]) -> None:
        self.mean = torch.tensor(mean, dtype=torch.float32).view(3, 1, 1, 1) * 255.0
        self.std = torch.tensor(std, dtype=torch.float32).view(3, 1, 1, 1) * 255.0

    def __call__(self, clip: Tensor, label: int, rng: np.random.Generator) -> tuple[Tensor, int]:
        channels_first = clip.movedim(-1, -4).to(torch.float32, copy=True, memory_format=torch.contiguous_format)
        return channels_first.sub_(self.mean).div_(self.std), label


class Compose:
    """Apply transforms in order, threading the label and the generator."""

    def __init__(self, transforms: Sequence[Transform]) -> None:
        self.transforms = list(transforms)

    def __call__(self, clip: Tensor, label: int, rng: np.random.Generator) -> tuple[Tensor, int]:
        for transform in self.transforms:
            clip, label = transform(clip, label, rng)
        return clip, label


def flip_label_map(pairs: Sequence[Sequence[str]], class_names: Sequence[str]) -> dict[int, int]:
    """``[[a, b], ...]`` class-name pairs -> the symmetric ``{index_a: index_b, index_b: index_a}``."""
    index = {name: i for i, name in enumerate(class_names)}
    mapping = {}
    for first, second in pairs:
        for name in (first, second):
            if name not in index:
                raise ValueError(f"data.flip_label_pairs names unknown class {name!r}")
        mapping[index[first]], mapping[index[second]] = index[second], index[first]
    return mapping


def build_train_transform(cfg: DataConfig, label_map: dict[int, int] | None = None) -> Compose:
    """Resize the short side (to ``resize_short``, or for ``train_crop=scale_jitter`` to a random side in
    ``short_side_range`` followed by a random crop), the configured crop, an optional flip (swapping
    ``label_map`` classes), normalise: ``uint8 (T, H, W, 3) -> float32 (3, T, input_size, input_size)``."""
    crops = {"multiscale": MultiScaleCrop, "random_resized": RandomResizedCrop, "center": CenterCrop}
    if cfg.train_crop == "scale_jitter":
        steps: list[Transform] = [RandomShortSideScale(*cfg.short_side_range), RandomCrop(cfg.input_size)]
    else:
        steps = [Resize(cfg.resize_short), crops[cfg.train_crop](cfg.input_size)]
    if cfg.flip:
        steps.append(RandomHorizontalFlip(0.5, label_map))
    steps.append(Normalize(cfg.mean, cfg.std))
    return Compose(steps)


def build_test_transform(cfg: DataConfig) -> Compose:
    """Resize the short side, then the centre crop (``test_crops=1``: ``(3, T, S, S)``), three crops
    along the longer side (``3``: ``(3, 3, T, S, S)``) or ten crops (``10``: ``(10, 3, T, S, S)``),
    normalise. ``S`` is ``data.test_crop_size`` or, when 0, ``data.input_size``; full-resolution
    testing (TSM, W3 Sec. 4) sets it to ``data.resize_short``."""
    size = cfg.test_crop_size or cfg.input_size
    crop = {1: CenterCrop, 3: ThreeCrop, 10: TenCrop}[cfg.test_crops](size)
    return Compose([Resize(cfg.resize_short), crop, Normalize(cfg.mean, cfg.std)])
