"""TV-L1 optical flow: extraction from videos, storage, and a reader for a flow input stream.

GAF (Sec. IV-B) and AFSD train a second, optical-flow stream next to the RGB one and average the two
streams' scores at test time; the flow is TV-L1 (Zach, Pock and Bischof 2007, the dual solver of
Wedel et al.) as I3D computes it. We run OpenCV's ``cv2.optflow.DualTVL1OpticalFlow_create`` (package
``opencv-contrib-python-headless``) with its default parameters (tau 0.25, lambda 0.15, theta 0.3, 5
scales at ratio 0.8, 5 warps, epsilon 0.01, 30 x 10 iterations, median filter 5): the same solver
settings as the CUDA TV-L1 of ``denseflow`` (open-mmlab) that AFSD calls with ``-b=20 -a=tvl1``. Flow
is computed on grayscale frames.

Frame ``k`` of the (optionally resampled and resized) video and frame ``k + 1`` give flow ``k``:
``flow[k][y, x] = (dx, dy)`` in pixels of the stored size such that the content at ``(x, y)`` in
frame ``k`` is at ``(x + dx, y + dy)`` in frame ``k + 1`` (positive ``dx``: moving right; positive
``dy``: moving down). A video of ``T`` frames gives ``T - 1`` flow fields.

Storage, per video ``<id>`` (the file name's stem) under the output folder:

- ``--format jpg`` (the denseflow / MMAction convention): ``<id>/x_00001.jpg``, ``<id>/y_00001.jpg``
  ... (numbered from 1), one grayscale JPEG per component, with the code
  ``q = 0 if f < -bound, 255 if f > bound, else round(255 * (f + bound) / (2 * bound))`` (denseflow's
  ``CAST``; bound 20 px by default). It decodes as ``f = q * 2 * bound / 255 - bound``, one code step
  being ``2 * bound / 255`` px (0.157 px for bound 20). ``<id>/flow.json`` is the completion marker.
- ``--format npy``: ``<id>.npy``, ``(T - 1, 2, H, W) float16`` flow in pixels, not clipped (float16
  keeps about 3 significant digits: 0.01 px at 20 px); ``<id>.json`` is the completion marker.

The marker (written last, atomically) records the parameters: ``fps`` (the rate of the frames the
flow was computed between), ``num_flows``, ``height``, ``width``, ``bound``, ``format``, ``source``,
``short_side``, ``square``, ``algorithm``, ``opencv``. An output without a marker is partial and is
redone; one whose marker records other parameters is redone as well.

Reading for a flow stream (:class:`FlowReader`): the I3D flow input, ``clip(f, -bound, bound) /
bound`` in ``[-1, 1]``, which for JPEG codes is exactly AFSD's ``q / 255 * 2 - 1``. The reader
shows ``T`` flow frames (the last field repeated, as AFSD's ``gen_flow_npy`` does) at the RGB frame
rate, so a flow stream has as many time steps as the RGB stream of the same video.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vidaction.data.errors import VideoDecodeError
from vidaction.data.sampling import indices_at_fps
from vidaction.data.video import VideoReader

FLOW_FORMATS = ("jpg", "npy")
DEFAULT_BOUND = 20.0
MARKER_NAME = "flow.json"
DECODE_CHUNK = 64


def _cv2() -> Any:
    try:
        import cv2
    except ImportError as exc:
        raise ImportError("TV-L1 flow needs OpenCV's contrib module: pip install opencv-contrib-python-headless "
                          "(or vidaction[flow])") from exc
    if not hasattr(cv2, "optflow"):
        raise ImportError("this OpenCV build has no 'optflow' contrib module; install "
                          "opencv-contrib-python-headless instead of opencv-python")
    return cv2


def create_tvl1() -> Any:
    """OpenCV's dual TV-L1 solver with its default parameters (the module docstring lists them)."""
    return _cv2().optflow.DualTVL1OpticalFlow_create()


def tvl1_flow(prev_gray: np.ndarray, next_gray: np.ndarray, solver: Any | None = None) -> np.ndarray:
    """Flow from ``prev_gray`` to ``next_gray`` (``(H, W) uint8``): ``(H, W, 2) float32`` ``(dx, dy)`` px."""
    if prev_gray.shape != next_gray.shape or prev_gray.ndim != 2:
        raise ValueError(f"need two grayscale (H, W) frames of one size, got {prev_gray.shape} and {next_gray.shape}")
    if solver is None:
        solver = create_tvl1()
    return solver.calc(np.ascontiguousarray(prev_gray), np.ascontiguousarray(next_gray), None)


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


def _resize(cv2: Any, image: np.ndarray, settings: FlowSettings) -> np.ndarray:
    if not settings.short_side:
        return image
    h, w = image.shape[:2]
    if settings.square:
        size = (settings.short_side, settings.short_side)
    else:
        scale = settings.short_side / min(h, w)
        size = (max(round(w * scale), 1), max(round(h * scale), 1))
    if size == (w, h):
        return image
    shrink = size[0] * size[1] < w * h
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)


def _atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def extract_video_flow(video: str | Path, out_dir: str | Path, settings: FlowSettings,
                       video_id: str | None = None, progress: bool = False) -> dict:
    """Compute and store the TV-L1 flow of one video; returns the completion marker's content.

    Earlier output of this video is removed first; ``progress`` shows a bar over its flow fields.
    Raises :class:`VideoDecodeError` for unreadable videos, leaving no output behind.
    """
    cv2 = _cv2()
    video = Path(video)
    video_id = video_id or video.stem
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    data, marker = flow_output_paths(out, video_id, settings.format)
    _remove(marker)
    _remove(data)
    reader = VideoReader(video)
    if settings.fps is not None:
        indices, fps = indices_at_fps(reader.timestamps(), settings.fps, reader.duration), settings.fps
    elif reader.fps > 0:
        indices, fps = np.arange(reader.num_frames), reader.fps
    else:
        raise VideoDecodeError(video, "the container states no frame rate; pass fps (--fps) to resample")
    if len(indices) < 2:
        raise VideoDecodeError(video, f"{len(indices)} frame(s) after resampling; flow needs at least 2")
    staging = data.with_name(data.name + ".partial")
    _remove(staging)
    try:
        height, width = _write_flow(cv2, reader, indices, settings, staging, progress, video_id)
    except BaseException:
        _remove(staging)
        raise
    os.replace(staging, data)
    content = {
        "video_id": video_id, "source": str(video), "fps": float(fps), "requested_fps": settings.fps,
        "num_flows": len(indices) - 1, "height": height, "width": width, "bound": settings.bound,
        "format": settings.format, "short_side": settings.short_side, "square": settings.square,
        "jpeg_quality": settings.jpeg_quality, "algorithm": "tvl1", "opencv": cv2.__version__,
    }
    _atomic_write_text(marker, json.dumps(content, indent=1))
    return content


def _write_flow(cv2: Any, reader: VideoReader, indices: np.ndarray, settings: FlowSettings, staging: Path,
                progress: bool, video_id: str) -> tuple[int, int]:
    """Flow between the frames at consecutive ``indices`` into ``staging``; the flow's ``(H, W)``."""
    from tqdm import tqdm

    solver = create_tvl1()
    if settings.format == "jpg":
        staging.mkdir(parents=True)
    params = [cv2.IMWRITE_JPEG_QUALITY, settings.jpeg_quality]
    fields: list[np.ndarray] = []
    previous = None
    count = 0
    with tqdm(total=len(indices) - 1, unit="flow", desc=video_id, leave=False, disable=not progress) as bar:
        for begin in range(0, len(indices), DECODE_CHUNK):
            for frame in reader.get_frames(indices[begin:begin + DECODE_CHUNK]):
                gray = cv2.cvtColor(_resize(cv2, frame, settings), cv2.COLOR_RGB2GRAY)
                if previous is not None:
                    flow = tvl1_flow(previous, gray, solver)
                    count += 1
                    if settings.format == "npy":
                        fields.append(flow.transpose(2, 0, 1).astype(np.float16))
                    else:
                        codes = flow_to_codes(flow, settings.bound)
                        for axis, name in enumerate("xy"):
                            if not cv2.imwrite(str(staging / f"{name}_{count:05d}.jpg"), codes[..., axis], params):
                                raise OSError(f"{staging}: cannot write {name}_{count:05d}.jpg")
                    bar.update(1)
                previous = gray
    if settings.format == "npy":
        with open(staging, "wb") as handle:
            np.save(handle, np.stack(fields))
    return int(previous.shape[0]), int(previous.shape[1])


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    elif path.exists():
        path.unlink()


class FlowReader:
    """Stored flow of one video as a frame reader: ``get_frames(indices) -> (N, H, W, 2) float32`` in
    ``[-1, 1]`` (``clip(f, -bound, bound) / bound``, channels ``(dx, dy)``).

    ``path`` is a jpg flow folder (with ``flow.json``) or an ``.npy`` file (with its ``.json``).
    ``num_frames`` is the stored field count plus one, the last field repeating, at the ``fps`` the
    flow was extracted at, so its time steps line up with the RGB frames. ``bound`` defaults to the
    one stored in the marker (JPEG codes always decode with the stored one).
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

    @property
    def duration(self) -> float:
        """Seconds: ``num_frames / fps``."""
        return self.num_frames / self.fps

    def timestamps(self) -> np.ndarray:
        """Time of flow frame ``k`` (the flow from frame ``k`` to ``k + 1``): ``k / fps``, ``(num_frames,)``."""
        return np.arange(self.num_frames) / self.fps

    def get_flow(self, indices: Sequence[int]) -> np.ndarray:
        """Flow in pixels (JPEG: decoded codes), ``(N, H, W, 2) float32``; index ``num_flows`` repeats the last."""
        indices = [int(i) for i in indices]
        outside = [i for i in indices if not 0 <= i < self.num_frames]
        if outside:
            raise VideoDecodeError(self.path, f"flow frame {outside[0]} outside [0, {self.num_frames})")
        fields = [min(i, self.num_flows - 1) for i in indices]
        if self.is_array:
            return np.asarray(self._array()[fields], dtype=np.float32).transpose(0, 2, 3, 1)
        cv2 = _cv2()
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


VIDEO_EXTENSIONS = (".mp4", ".avi", ".mkv", ".webm", ".mov", ".m4v", ".mpg", ".mpeg", ".flv", ".wmv")


def collect_videos(paths: Sequence[str | Path]) -> list[Path]:
    """Files as given and the video files (by extension, sorted) of folders; ids (stems) must be unique."""
    videos: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            videos.extend(sorted(p for p in path.iterdir() if p.suffix.lower() in VIDEO_EXTENSIONS))
        else:
            videos.append(path)
    seen: dict[str, Path] = {}
    for video in videos:
        if video.stem in seen and seen[video.stem] != video:
            raise ValueError(f"two videos share the id {video.stem!r} ({seen[video.stem]} and {video}); "
                             "flow is stored per id, so extract them into different --out folders")
        seen[video.stem] = video
    return list(dict.fromkeys(videos))


@dataclass
class FlowRunSummary:
    """What :func:`extract_flows` did: ids extracted, ids already complete, ``"path: reason"`` failures."""

    extracted: list[str]
    skipped: list[str]
    failed: list[str]


def _extract_one(video: Path, out_dir: Path, settings: FlowSettings,
                 progress: bool = False) -> tuple[str, str, str]:
    """``(video_id, "extracted" | "skipped" | "failed", message)``; runs in worker processes too."""
    video_id = video.stem
    if flow_is_complete(out_dir, video_id, settings):
        return video_id, "skipped", ""
    try:
        extract_video_flow(video, out_dir, settings, video_id, progress)
    except VideoDecodeError as exc:
        return video_id, "failed", str(exc)
    except OSError as exc:
        return video_id, "failed", f"{video}: {exc}"
    return video_id, "extracted", ""


def extract_flows(videos: Sequence[Path], out_dir: str | Path, settings: FlowSettings, workers: int = 1,
                  progress: bool = True) -> FlowRunSummary:
    """TV-L1 flow of every video into ``out_dir``: complete outputs are skipped, partial ones redone,
    unreadable videos listed in ``failed`` (and left without output); ``workers`` processes."""
    from concurrent.futures import ProcessPoolExecutor, as_completed

    from tqdm import tqdm

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    summary = FlowRunSummary([], [], [])
    lists = {"extracted": summary.extracted, "skipped": summary.skipped, "failed": summary.failed}
    with tqdm(total=len(videos), unit="video", desc="tv-l1 flow", disable=not progress) as bar:
        if workers <= 1:
            for video_id, status, message in (_extract_one(video, out, settings, progress) for video in videos):
                lists[status].append(message or video_id)
                bar.set_postfix_str(video_id)
                bar.update(1)
        else:
            import multiprocessing

            context = multiprocessing.get_context("spawn")
            with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
                futures = [pool.submit(_extract_one, video, out, settings) for video in videos]
                for future in as_completed(futures):
                    video_id, status, message = future.result()
                    lists[status].append(message or video_id)
                    bar.set_postfix_str(video_id)
                    bar.update(1)
    return summary
