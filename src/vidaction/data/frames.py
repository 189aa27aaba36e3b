"""Frame-folder input: one JPEG per frame (``00001.jpg`` as Something-Something v1 ships,
``img_00001.jpg`` as TSN-style extraction writes), same interface as :class:`VideoReader`."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from vidaction.data.errors import VideoDecodeError


class FrameFolderReader:
    """``get_frames(indices) -> (T, H, W, 3) uint8`` from ``folder/template.format(start_index + i)``."""

    def __init__(self, folder: str | Path, template: str = "{:05d}.jpg", start_index: int = 1,
                 fps: float = 12.0) -> None:
        self.path = str(folder)
        self.template = template
        self.start_index = start_index
        self.fps = fps
        if not Path(self.path).is_dir():
            raise VideoDecodeError(self.path, "frame folder not found")
        suffix = Path(template.format(start_index)).suffix
        self.num_frames = sum(1 for name in os.listdir(self.path) if name.endswith(suffix))
        if self.num_frames == 0:
            raise VideoDecodeError(self.path, f"no '{suffix}' frames in folder")

    @property
    def duration(self) -> float:
        return self.num_frames / self.fps

    def get_frames(self, indices: Sequence[int]) -> np.ndarray:
        images = {}
        for index in dict.fromkeys(int(i) for i in indices):
            if not 0 <= index < self.num_frames:
                raise VideoDecodeError(self.path, f"frame index {index} outside [0, {self.num_frames})")
            name = Path(self.path) / self.template.format(self.start_index + index)
            try:
                with Image.open(name) as image:
                    images[index] = np.asarray(image.convert("RGB"))
            except (FileNotFoundError, UnidentifiedImageError, OSError) as exc:
                raise VideoDecodeError(name, f"unreadable frame ({exc.__class__.__name__})") from exc
        return np.stack([images[int(i)] for i in indices])
