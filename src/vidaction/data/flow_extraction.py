"""TV-L1 optical flow extraction from videos into the storage of :mod:`vidaction.data.flow`.

GAF (Sec. IV-B) and AFSD train a second, optical-flow stream next to the RGB one and average the two
streams' scores at test time; the flow is TV-L1 (Zach, Pock and Bischof 2007, the dual solver of
Wedel et al.) as I3D computes it. We run OpenCV's ``cv2.optflow.DualTVL1OpticalFlow_create`` (package
``opencv-contrib-python-headless``) with its default parameters (tau 0.25, lambda 0.15, theta 0.3, 5
scales at ratio 0.8, 5 warps, epsilon 0.01, 30 x 10 iterations, median filter 5): the same solver
settings as the CUDA TV-L1 of ``denseflow`` (open-mmlab) that AFSD calls with ``-b=20 -a=tvl1``. Flow
is computed on grayscale frames ``(H, W) uint8`` and is ``(H, W, 2) float32`` ``(dx, dy)`` pixels.

Extraction is resumable: a video whose output has a completion marker with the same settings is
skipped, a partial one is redone, and an unreadable one is reported and leaves no output.
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
from vidaction.data.flow import FlowSettings, flow_is_complete, flow_output_paths, flow_to_codes, require_opencv
from vidaction.data.sampling import indices_at_fps
from vidaction.data.video import VideoReader
from vidaction.io import atomic_write_text

DECODE_CHUNK = 64


def create_tvl1() -> Any:
    """OpenCV's dual TV-L1 solver with its default parameters (the module docstring lists them)."""
    return require_opencv().optflow.DualTVL1OpticalFlow_create()


def tvl1_flow(prev_gray: np.ndarray, next_gray: np.ndarray, solver: Any | None = None) -> np.ndarray:
    """Flow from ``prev_gray`` to ``next_gray`` (``(H, W) uint8``): ``(H, W, 2) float32`` ``(dx, dy)`` px."""
    if prev_gray.shape != next_gray.shape or prev_gray.ndim != 2:
        raise ValueError(f"need two grayscale (H, W) frames of one size, got {prev_gray.shape} and {next_gray.shape}")
    if solver is None:
        solver = create_tvl1()
    return solver.calc(np.ascontiguousarray(prev_gray), np.ascontiguousarray(next_gray), None)


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


def extract_video_flow(video: str | Path, out_dir: str | Path, settings: FlowSettings,
                       video_id: str | None = None, progress: bool = False) -> dict:
    """Compute and store the TV-L1 flow of one video; returns the completion marker's content.

    Earlier output of this video is removed first; ``progress`` shows a bar over its flow fields.
    Raises :class:`VideoDecodeError` for unreadable videos, leaving no output behind.
    """
    cv2 = require_opencv()
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
    atomic_write_text(marker, json.dumps(content, indent=1))
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
