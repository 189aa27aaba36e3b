"""Stored TV-L1 optical flow: the storage format, completion markers, and a reader for a flow input
stream. :mod:`vidaction.data.flow_extraction` computes and writes it.

Frame ``k`` of the (optionally resampled and resized) video and frame ``k + 1`` give flow ``k``:
``flow[k][y, x] = (dx, dy)`` in pixels of the stored size such that the content at ``(x, y)`` in
frame ``k`` is at ``(x + dx, y + dy)`` in frame ``k + 1`` (positive ``dx``: moving right; positive
``dy``: moving down). A video of ``T`` frames gives ``T - 1`` flow fields.

Storage, per video ``<id>`` (the file name's stem) under the output folder:

- ``format="jpg"`` (the denseflow / MMAction convention): ``<id>/x_00001.jpg``, ``<id>/y_00001.jpg``
  ... (numbered from 1), one grayscale JPEG per component, with the code
  ``q = 0 if f < -bound, 255 if f > bound, else round(255 * (f + bound) / (2 * bound))`` (denseflow's
  ``CAST``; bound 20 px by default). It decodes as ``f = q * 2 * bound / 255 - bound``, one code step
  being ``2 * bound / 255`` px (0.157 px for bound 20). ``<id>/flow.json`` is the completion marker.
- ``format="npy"``: ``<id>.npy``, ``(T - 1, 2, H, W) float16`` flow in pixels, not clipped (float16
  keeps about 3 significant digits: 0.01 px at 20 px); ``<id>.json`` is the completion marker.

The marker (written last, atomically) records the parameters: ``fps`` (the rate of the frames the
flow was computed between), ``num_flows``, ``height``, ``width``, ``bound``, ``format``, ``source``,
``short_side``, ``square``, ``algorithm``, ``opencv``. An output without a marker is partial and is
redone; one whose marker records other parameters (:meth:`FlowSettings.matches`) is redone as well.

Reading for a flow stream (:class:`FlowReader`): the I3D flow input, ``clip(f, -bound, bound) /
bound`` in ``[-1, 1]``, which for JPEG codes is exactly AFSD's ``q / 255 * 2 - 1``. The reader
shows ``T`` flow frames (the last field repeated, as AFSD's ``gen_flow_npy`` does) at the RGB frame
rate, so a flow stream has as many time steps as the RGB stream of the same video.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vidaction.data.errors import VideoDecodeError
from vidaction.data.frames import ConstantRateFrames

FLOW_FORMATS = ("jpg", "npy")
DEFAULT_BOUND = 20.0
MARKER_NAME = "flow.json"


def require_opencv() -> Any:
    """The ``cv2`` module, which must have the ``optflow`` contrib module (TV-L1, JPEG flow codes)."""
    try:
        import cv2
    except ImportError as exc:
        raise ImportError("TV-L1 flow needs OpenCV's contrib module: pip install opencv-contrib-python-headless "
                          "(or vidaction[flow])") from exc
    if not hasattr(cv2, "optflow"):
        raise ImportError("this OpenCV build has no 'optflow' contrib module; install "
                          "opencv-contrib-python-headless instead of opencv-python")
    return cv2


def flow_to_codes(flow: np.ndarray, bound: float = DEFAULT_BOUND) -> np.ndarray:
    """Flow in pixels -> uint8 codes ``round(255 * (clip(f, -bound, bound) + bound) / (2 * bound))``."""
    scaled = (np.clip(flow, -bound, bound) + bound) * (255.0 / (2.0 * bound))
    return np.rint(scaled).astype(np.uint8)


def codes_to_flow(codes: np.ndarray, bound: float = DEFAULT_BOUND) -> np.ndarray:
    """uint8 codes -> flow in pixels, ``q * 2 * bound / 255 - bound`` (float32)."""
    return codes.astype(np.float32) * np.float32(2.0 * bound / 255.0) - np.float32(bound)


def flow_output_paths(out_dir: str | Path, video_id: str, fmt: str) -> tuple[Path, Path]:
    """``(data, marker)``: the flow folder and its ``flow.json`` for jpg, ``<id>.npy`` and ``<id>.json`` for npy."""
    if fmt not in FLOW_FORMATS:
        raise ValueError(f"flow format must be one of {list(FLOW_FORMATS)}, got {fmt!r}")
    out = Path(out_dir)
    if fmt == "jpg":
        return out / video_id, out / video_id / MARKER_NAME
    return out / f"{video_id}.npy", out / f"{video_id}.json"


def _marker_of(path: Path) -> Path:
    return path / MARKER_NAME if path.is_dir() or path.suffix != ".npy" else path.with_suffix(".json")


@dataclass(frozen=True)
class FlowSettings:
    """What the stored flow depends on: the resampling ``fps`` (``None``: every frame), the resize
    (``short_side`` 0: none; ``square``: ``short_side x short_side`` as AFSD squashes to 112 x 112),
    the JPEG ``bound`` and ``jpeg_quality``, and the storage ``format``."""

    fps: float | None = None
    short_side: int = 0
    square: bool = False
    bound: float = DEFAULT_BOUND
    format: str = "jpg"
    jpeg_quality: int = 95

    def __post_init__(self) -> None:
        if self.format not in FLOW_FORMATS:
            raise ValueError(f"flow format must be one of {list(FLOW_FORMATS)}, got {self.format!r}")
        if self.fps is not None and self.fps <= 0:
            raise ValueError(f"fps must be positive, got {self.fps}")
        if self.bound <= 0:
            raise ValueError(f"bound must be positive, got {self.bound}")
        if self.short_side < 0 or (self.square and self.short_side == 0):
            raise ValueError("short_side must be >= 0, and > 0 with square")
        if not 1 <= self.jpeg_quality <= 100:
            raise ValueError(f"jpeg_quality must be in 1..100, got {self.jpeg_quality}")

    def matches(self, marker: dict) -> bool:
        """Whether a completion marker was written with these settings."""
        fps = marker.get("requested_fps")
        return (marker.get("format") == self.format and marker.get("bound") == self.bound
                and marker.get("short_side") == self.short_side and marker.get("square") == self.square
                and (fps is None) == (self.fps is None) and (fps is None or abs(fps - self.fps) < 1e-9)
                and (self.format == "npy" or marker.get("jpeg_quality") == self.jpeg_quality))


def _read_marker(marker: Path) -> dict | None:
    try:
        content = json.loads(marker.read_text())
    except (OSError, ValueError):
        return None
    return content if isinstance(content, dict) else None


def flow_is_complete(out_dir: str | Path, video_id: str, settings: FlowSettings) -> bool:
    """A marker with ``settings`` exists beside the data (then extraction of this video is skipped)."""
    data, marker = flow_output_paths(out_dir, video_id, settings.format)
    content = _read_marker(marker) if marker.is_file() else None
    return content is not None and settings.matches(content) and data.exists()



class FlowReader(ConstantRateFrames):
    """Stored flow of one video as a frame reader: ``get_frames(indices) -> (N, H, W, 2) float32`` in
    ``[-1, 1]`` (``clip(f, -bound, bound) / bound``, channels ``(dx, dy)``).

    ``path`` is a jpg flow folder (with ``flow.json``) or an ``.npy`` file (with its ``.json``).
    ``num_frames`` is the stored field count plus one, the last field repeating, at the ``fps`` the
    flow was extracted at, so its time steps line up with the RGB frames: flow frame ``k`` (the flow
    from frame ``k`` to ``k + 1``) is timed ``k / fps``. ``bound`` defaults to the one stored in the
    marker (JPEG codes always decode with the stored one).
    """

    def __init__(self, path: str | Path, bound: float | None = None) -> None:
        self.path = str(path)
        data = Path(path)
        marker = _marker_of(data)
        if not data.exists():
            raise VideoDecodeError(data, "flow not found")
        content = _read_marker(marker) if marker.is_file() else None
        if content is None:
            raise VideoDecodeError(data, f"no readable {marker.name}: flow extraction incomplete or not ours")
        try:
            self.fps = float(content["fps"])
            self.stored_bound = float(content["bound"])
            self.num_flows = int(content["num_flows"])
            self.height, self.width = int(content["height"]), int(content["width"])
        except (KeyError, TypeError, ValueError) as exc:
            raise VideoDecodeError(marker, f"marker lacks a valid {exc} (needs fps, bound, num_flows, height, "
                                           "width)") from exc
        if self.fps <= 0 or self.num_flows < 1 or self.stored_bound <= 0:
            raise VideoDecodeError(marker, f"marker states fps {self.fps}, bound {self.stored_bound}, "
                                           f"{self.num_flows} flows")
        self.bound = float(bound if bound is not None else self.stored_bound)
        self.num_frames = self.num_flows + 1
        self.is_array = data.suffix == ".npy"
        if self.is_array:
            shape = self._array().shape
            if shape != (self.num_flows, 2, self.height, self.width):
                raise VideoDecodeError(data, f"flow array has shape {shape}, the marker says "
                                             f"{(self.num_flows, 2, self.height, self.width)}")

    def _array(self) -> np.ndarray:
        """The ``.npy`` memory-mapped (opened per read, so the reader pickles without the data)."""
        try:
            return np.load(self.path, mmap_mode="r")
        except (OSError, ValueError) as exc:
            raise VideoDecodeError(self.path, f"unreadable flow array ({exc})") from exc

    def get_flow(self, indices: Sequence[int]) -> np.ndarray:
        """Flow in pixels (JPEG: decoded codes), ``(N, H, W, 2) float32``; index ``num_flows`` repeats the last."""
        indices = [int(i) for i in indices]
        outside = [i for i in indices if not 0 <= i < self.num_frames]
        if outside:
            raise VideoDecodeError(self.path, f"flow frame {outside[0]} outside [0, {self.num_frames})")
        fields = [min(i, self.num_flows - 1) for i in indices]
        if self.is_array:
            return np.asarray(self._array()[fields], dtype=np.float32).transpose(0, 2, 3, 1)
        cv2 = require_opencv()
        cache: dict[int, np.ndarray] = {}
        for field in dict.fromkeys(fields):
            pair = []
            for name in "xy":
                file = Path(self.path) / f"{name}_{field + 1:05d}.jpg"
                image = cv2.imread(str(file), cv2.IMREAD_GRAYSCALE)
                if image is None:
                    raise VideoDecodeError(file, "unreadable flow image")
                pair.append(image)
            cache[field] = codes_to_flow(np.stack(pair, axis=-1), self.stored_bound)
        return np.stack([cache[f] for f in fields])

    def get_frames(self, indices: Sequence[int]) -> np.ndarray:
        """The I3D flow input ``clip(f, -bound, bound) / bound``, ``(N, H, W, 2) float32``."""
        return np.clip(self.get_flow(indices), -self.bound, self.bound) / np.float32(self.bound)
