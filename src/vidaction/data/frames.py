"""Frame-folder input: one image per frame, with the same interface as :class:`VideoReader`.

Something-Something v1 ships ``<id>/00001.jpg``; TSN-style extraction writes ``img_00001.jpg``
(pass ``template="img_{:05d}.jpg"``), often beside optical-flow images in the same folder, so frames
are counted by parsing names against the template, not by file extension.
"""

from __future__ import annotations

import os
import re
import string
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from vidaction.data.errors import VideoDecodeError


class ConstantRateFrames:
    """``duration`` and ``timestamps`` of a reader whose frame ``i`` is shown at ``i / fps``; the reader
    sets ``num_frames`` and ``fps``."""

    num_frames: int
    fps: float

    @property
    def duration(self) -> float:
        """Seconds: ``num_frames / fps``."""
        return self.num_frames / self.fps

    def timestamps(self) -> np.ndarray:
        """Presentation time of every frame in seconds, ``(num_frames,)`` float64."""
        return np.arange(self.num_frames) / self.fps


class FrameFolderReader(ConstantRateFrames):
    """Frame ``i`` is the image ``folder / template.format(start_index + i)``; decoded with PIL.

    The folder must hold frames ``start_index .. start_index + num_frames - 1`` without gaps; ``fps``
    is not stored in the folder, so it is given (12 for Something-Something v1).
    """

    def __init__(self, folder: str | Path, template: str = "{:05d}.jpg", start_index: int = 1,
                 fps: float = 12.0) -> None:
        self.path = str(folder)
        self.template = template
        self.start_index = start_index
        self.fps = fps
        if not Path(self.path).is_dir():
            raise VideoDecodeError(self.path, "frame folder not found")
        pattern = _template_pattern(template)
        numbers = sorted(n for n in (_frame_number(name, template, pattern) for name in os.listdir(self.path))
                         if n is not None)
        if not numbers:
            raise VideoDecodeError(self.path, f"no frames named like {template.format(start_index)!r}")
        if numbers[0] != start_index:
            raise VideoDecodeError(self.path, f"first frame is {template.format(numbers[0])!r}, "
                                              f"expected {template.format(start_index)!r}")
        if numbers[-1] != start_index + len(numbers) - 1:
            gap = next(n for n, m in zip(range(start_index, numbers[-1]), numbers) if n != m)
            raise VideoDecodeError(self.path, f"frame {template.format(gap)!r} missing "
                                              f"({len(numbers)} frames, numbered {numbers[0]}..{numbers[-1]})")
        self.num_frames = len(numbers)

    def get_frames(self, indices: Sequence[int]) -> np.ndarray:
        """Frames at ``indices`` (any order, repeats allowed) as ``(len(indices), H, W, 3) uint8`` RGB."""
        indices = [int(i) for i in indices]
        if not indices:
            raise ValueError("no frame indices requested")
        images = {}
        for index in dict.fromkeys(indices):
            if not 0 <= index < self.num_frames:
                raise VideoDecodeError(self.path, f"frame index {index} outside [0, {self.num_frames})")
            name = Path(self.path) / self.template.format(self.start_index + index)
            try:
                with Image.open(name) as image:
                    images[index] = np.asarray(image.convert("RGB"))
            except (OSError, Image.DecompressionBombError) as exc:  # the latter: a header declaring gigapixels
                raise VideoDecodeError(name, f"unreadable frame ({exc.__class__.__name__}: {exc})") from exc
        sizes = {image.shape for image in images.values()}
        if len(sizes) > 1:
            raise VideoDecodeError(self.path, f"frames differ in size: {sorted(sizes)}")
        return np.stack([images[i] for i in indices])


def _template_pattern(template: str) -> re.Pattern:
    """``"img_{:05d}.jpg"`` -> ``img_(\\d+)\\.jpg``; the template must have exactly one field."""
    parts = list(string.Formatter().parse(template))
    fields = [p for p in parts if p[1] is not None]
    if len(fields) != 1:
        raise ValueError(f"frame template {template!r} must have exactly one {{}} field for the frame number")
    return re.compile("".join(re.escape(literal) + (r"(\d+)" if field is not None else "")
                              for literal, field, _, _ in parts))


def _frame_number(name: str, template: str, pattern: re.Pattern) -> int | None:
    match = pattern.fullmatch(name)
    if match is None:
        return None
    number = int(match.group(1))
    # "1.jpg" matches the digits of "{:05d}.jpg" but is not a name the template writes
    return number if template.format(number) == name else None
