"""A fixed, network-free motion descriptor: the features of the synthetic detection data.

Frames are averaged over 2 x 2 pixels and turned gray (``g``). For each consecutive pair, with
temporal difference ``d`` and the spatial gradient ``(g_x, g_y)`` of the pair's mean, a Lucas-Kanade
flow ``(u, v)`` is solved in each 4 x 4 block (ridge ``LK_RIDGE`` on the structure tensor) and
weighted by the block's motion evidence ``w = max(mean |d| - MOTION_THRESHOLD, 0)``. The pair gives
``PAIR_DIMS`` = 64 numbers: an 8-orientation histogram of the flow weighted by ``w |(u, v)|`` in each
of 2 x 2 cells (32); the ``w``-weighted mean ``u``, ``v`` and speed (3); the positive and negative
parts of the flow field's divergence and curl (4) and of its radial and tangential components about
the motion centroid (4); the moving-block fraction (1) and the motion's spread in y and x (2); the
mean ``|d|`` and mean ``w`` (2); and ``|d|`` averaged in 4 x 4 cells (16); each mapped by
``sign(x) log(1 + |x| / s)`` with fixed scales ``PAIR_SCALES``. A feature step summarises ``window``
frames (8) centred on its ``stride``-frame bin (2; frames past either end repeat the edge frame):
the mean, maximum, minimum and standard deviation over its pairs (256) and the mean colour and
texture (gray standard deviation) of its frames in 2 x 2 cells (16), ``DESCRIPTOR_DIMS`` = 272 in
all, times a fixed Gaussian projection (seed ``PROJECTION_SEED``, entries ``N(0, 1 / 272)``) to ``C``
channels (128): ``(N, H, W, 3) uint8`` frames -> ``(ceil(N / stride), C) float32``. Step ``i`` covers
frames ``[i * stride, (i + 1) * stride)`` and is timed at its centre, ``time_offset + i /
feature_fps`` with ``feature_fps = fps / stride`` and ``time_offset = stride / (2 fps)``.

Sidecar keys (:mod:`vidaction.data.feature_sidecar`, those of ``vidaction extract-features`` where
they overlap): ``video_id``, ``feature_fps``, ``time_offset``, ``feature_times``, ``duration``, ``fps``
(of the frames), ``stride`` and ``window`` (frames), ``num_features``, ``num_channels``, ``layout``
(``"TC"``), ``extractor`` (``EXTRACTOR``).

Learnability (``benchmarks/synthetic_detection.py``, default dataset): a per-position logistic
regression on these features, trained on the ``validation`` videos and scored on the ``test``
videos, tells action from background with balanced accuracy 0.88 (AUC 0.95; chance 0.5) and names
the class of action positions with accuracy 0.79 (chance 0.2, majority class 0.30).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np

from vidaction.data.feature_sidecar import FeatureSidecar
from vidaction.data.sampling import indices_at_fps
from vidaction.data.video import VideoReader

EXTRACTOR = "vidaction-motion-descriptor-v1"
PROJECTION_SEED = 20140101
PAIR_DIMS = 64
APPEARANCE_DIMS = 16
DESCRIPTOR_DIMS = 4 * PAIR_DIMS + APPEARANCE_DIMS
LK_BLOCK = 4
LK_RIDGE = 1e-3
MOTION_THRESHOLD = 0.02
# Frames of a video decoded per reader call, and described at once, by :func:`video_motion_features`.
DECODE_CHUNK = 128
DESCRIBE_CHUNK = 16


def _block_sum(x: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """``(N, h, w) -> (N, h / rows, w / cols)`` sums over ``rows x cols`` tiles."""
    n, h, w = x.shape
    return x.reshape(n, h // rows, rows, w // cols, cols).sum(axis=(2, 4))


def _positive_negative(values: np.ndarray, weight: np.ndarray, total: np.ndarray) -> list[np.ndarray]:
    """Weighted means of the positive and negative parts of ``(N, B, B)`` values."""
    return [(weight * np.maximum(values, 0)).sum(axis=(1, 2)) / total,
            (weight * np.maximum(-values, 0)).sum(axis=(1, 2)) / total]


def _pair_descriptors(gray: np.ndarray) -> np.ndarray:
    """``(N, h, w)`` grayscale frames -> ``(N - 1, PAIR_DIMS)``: block Lucas-Kanade motion numbers of
    each consecutive pair (module docstring)."""
    n, h, w = gray.shape
    diff = gray[1:] - gray[:-1]
    grad_y, grad_x = np.gradient(0.5 * (gray[1:] + gray[:-1]), axis=(1, 2))
    sxx = _block_sum(grad_x * grad_x, LK_BLOCK, LK_BLOCK) + LK_RIDGE
    syy = _block_sum(grad_y * grad_y, LK_BLOCK, LK_BLOCK) + LK_RIDGE
    sxy = _block_sum(grad_x * grad_y, LK_BLOCK, LK_BLOCK)
    sxt, syt = _block_sum(grad_x * diff, LK_BLOCK, LK_BLOCK), _block_sum(grad_y * diff, LK_BLOCK, LK_BLOCK)
    det = sxx * syy - sxy * sxy
    u = -(syy * sxt - sxy * syt) / det
    v = -(sxx * syt - sxy * sxt) / det
    energy = _block_sum(np.abs(diff), LK_BLOCK, LK_BLOCK) / LK_BLOCK ** 2
    weight = np.maximum(energy - MOTION_THRESHOLD, 0.0)
    speed = np.sqrt(u * u + v * v)
    blocks_y, blocks_x = h // LK_BLOCK, w // LK_BLOCK
    # 8-orientation histogram of the flow in 2 x 2 cells, linear between neighbouring orientations
    position = (np.arctan2(v, u) % (2 * np.pi)) / (2 * np.pi / 8)
    low = np.floor(position).astype(np.int64) % 8
    frac = position - np.floor(position)
    cell = ((np.arange(blocks_y) * 2 // blocks_y)[:, None] * 2 + (np.arange(blocks_x) * 2 // blocks_x)[None, :]).ravel()
    base = np.arange(n - 1)[:, None] * 32 + cell[None, :] * 8
    mass = (weight * speed).reshape(n - 1, -1)
    hist = np.zeros((n - 1) * 32)
    for part, bins in ((1 - frac, low), (frac, (low + 1) % 8)):
        index = base + bins.reshape(n - 1, -1)
        hist += np.bincount(index.ravel(), (part.reshape(n - 1, -1) * mass).ravel(), minlength=(n - 1) * 32)
    total = weight.sum(axis=(1, 2)) + 1e-6
    mean_flow = [(weight * u).sum(axis=(1, 2)) / total, (weight * v).sum(axis=(1, 2)) / total,
                 (weight * speed).sum(axis=(1, 2)) / total]
    divergence = np.gradient(u, axis=2) + np.gradient(v, axis=1)
    curl = np.gradient(v, axis=2) - np.gradient(u, axis=1)
    yy, xx = np.meshgrid(np.arange(blocks_y) + 0.5, np.arange(blocks_x) + 0.5, indexing="ij")
    ry = yy[None] - ((weight * yy).sum(axis=(1, 2)) / total)[:, None, None]
    rx = xx[None] - ((weight * xx).sum(axis=(1, 2)) / total)[:, None, None]
    distance = np.sqrt(ry ** 2 + rx ** 2) + 1e-6
    radial, tangential = (u * rx + v * ry) / distance, (u * ry - v * rx) / distance
    spread = [np.sqrt((weight * ry ** 2).sum(axis=(1, 2)) / total) / blocks_y,
              np.sqrt((weight * rx ** 2).sum(axis=(1, 2)) / total) / blocks_x]
    grid = _block_sum(np.abs(diff), h // 4, w // 4) / ((h // 4) * (w // 4))
    columns = [*mean_flow, *_positive_negative(divergence, weight, total), *_positive_negative(curl, weight, total),
               *_positive_negative(radial, weight, total), *_positive_negative(tangential, weight, total),
               (weight > 0).mean(axis=(1, 2)), *spread, np.abs(diff).mean(axis=(1, 2)), weight.mean(axis=(1, 2))]
    return np.concatenate([hist.reshape(n - 1, 32), np.stack(columns, axis=1), grid.reshape(n - 1, 16)], axis=1)


def _signed_log(x: np.ndarray, scale: np.ndarray | float) -> np.ndarray:
    return np.sign(x) * np.log1p(np.abs(x) / scale)


# Fixed scales s of sign(x) log(1 + |x| / s), about the typical magnitude of each pair number:
# histogram, mean flow and speed, divergence/curl, radial/tangential, area, spread, energies, energy grid.
PAIR_SCALES = np.concatenate([np.full(32, 1e-2), np.full(3, 0.1), np.full(4, 0.05), np.full(4, 0.05), [0.05],
                              [0.1, 0.1], [5e-3, 1e-3], np.full(16, 5e-3)])


def _pooled_frames(frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(N, H, W, 3) uint8`` -> the 2 x 2-averaged gray frames ``(N, H / 2, W / 2)`` and the
    appearance numbers ``(N, APPEARANCE_DIMS)`` of each frame."""
    n, height, width = frames.shape[:3]
    rgb = frames.astype(np.float32) / 255.0
    pooled = rgb.reshape(n, height // 2, 2, width // 2, 2, 3).mean(axis=(2, 4))
    cells = pooled.reshape(n, 2, height // 4, 2, width // 4, 3)
    colour = cells.mean(axis=(2, 4)).reshape(n, 12)
    texture = cells.mean(axis=-1).std(axis=(2, 4)).reshape(n, 4)
    return pooled.mean(axis=-1), np.concatenate([colour, _signed_log(texture, 0.05)], axis=1)


def _window_statistics(pairs: np.ndarray, appearance: np.ndarray, stride: int, window: int) -> np.ndarray:
    """Per-pair ``(N - 1, PAIR_DIMS)`` and per-frame ``(N, APPEARANCE_DIMS)`` numbers -> the steps'
    descriptor ``(ceil(N / stride), DESCRIPTOR_DIMS)``, frames past either end repeating the edge."""
    n = len(appearance)
    steps = math.ceil(n / stride)
    half = (window - stride) // 2
    out = np.empty((steps, DESCRIPTOR_DIMS), dtype=np.float32)
    for i in range(steps):
        first = i * stride - half
        chunk = pairs[np.clip(np.arange(first, first + window - 1), 0, len(pairs) - 1)]
        look = appearance[np.clip(np.arange(first, first + window), 0, n - 1)]
        out[i] = np.concatenate([chunk.mean(0), chunk.max(0), chunk.min(0), chunk.std(0), look.mean(0)])
    return out


def _check_shapes(frames: np.ndarray, stride: int, window: int) -> None:
    if frames.ndim != 4 or frames.shape[-1] != 3 or len(frames) < 2:
        raise ValueError(f"need (N >= 2, H, W, 3) frames, got {frames.shape}")
    if frames.shape[1] % 8 or frames.shape[2] % 8:
        raise ValueError(f"frame sides must be multiples of 8, got {frames.shape[1]}x{frames.shape[2]}")
    if window < stride or (window - stride) % 2:
        raise ValueError(f"need window >= stride of the same parity, got {window}, {stride}")


def motion_descriptor(frames: np.ndarray, stride: int = 2, window: int = 8) -> np.ndarray:
    """The un-projected descriptor ``(ceil(N / stride), DESCRIPTOR_DIMS)`` of ``(N, H, W, 3) uint8`` frames."""
    frames = np.asarray(frames)
    _check_shapes(frames, stride, window)
    gray, appearance = _pooled_frames(frames)
    return _window_statistics(_signed_log(_pair_descriptors(gray), PAIR_SCALES), appearance, stride, window)


def projection_matrix(channels: int) -> np.ndarray:
    """The fixed ``(DESCRIPTOR_DIMS, channels)`` Gaussian projection, entries ``N(0, 1 / DESCRIPTOR_DIMS)``."""
    rng = np.random.default_rng(PROJECTION_SEED)
    return (rng.standard_normal((DESCRIPTOR_DIMS, channels)) / np.sqrt(DESCRIPTOR_DIMS)).astype(np.float32)


def motion_features(frames: np.ndarray, channels: int = 128, stride: int = 2, window: int = 8) -> np.ndarray:
    """Features ``(ceil(N / stride), channels) float32``: :func:`motion_descriptor` times :func:`projection_matrix`."""
    return motion_descriptor(frames, stride, window) @ projection_matrix(channels)


def motion_sidecar(video_id: str, num_frames: int, num_features: int, fps: float, stride: int, window: int,
                   channels: int) -> FeatureSidecar:
    """The sidecar of :func:`motion_features` of ``num_frames`` frames at ``fps`` (module docstring)."""
    offset = stride / (2 * fps)
    return FeatureSidecar(
        video_id=video_id, feature_fps=fps / stride, time_offset=offset, duration=num_frames / fps,
        num_features=num_features, feature_times=[round(offset + i * stride / fps, 6) for i in range(num_features)],
        settings=dict(fps=fps, stride=stride, window=window, num_channels=channels, layout="TC", extractor=EXTRACTOR))


def video_motion_features(path: str | Path, settings: dict) -> tuple[np.ndarray, FeatureSidecar]:
    """:func:`motion_features` of a video file, read at ``settings["fps"]``, and its sidecar: the
    feature recipe of a sidecar written by :func:`~vidaction.data.synthetic_detection.make_detection_dataset`
    (``fps``, ``stride``, ``window``, ``num_channels``) applied to any video, e.g. for ``vidaction detect``.
    Sides that are not multiples of 8 are cut to one (below 8: padded with the edge pixels), and a
    video of one frame is described as two equal frames (no motion).

    The video streams through in pieces of ``DECODE_CHUNK`` decoded and ``DESCRIBE_CHUNK`` described
    frames: memory holds one piece and the small per-frame numbers, whatever the video's length, and
    the features equal those of the whole video at once (every per-frame number depends on its
    frame, or pair of frames, alone)."""
    reader = VideoReader(path)
    fps, stride, window = float(settings["fps"]), int(settings["stride"]), int(settings["window"])
    channels = int(settings["num_channels"])
    indices = indices_at_fps(reader.timestamps(), fps, reader.duration)
    pairs, looks, previous = [], [], None
    for begin in range(0, len(indices), DECODE_CHUNK):
        decoded = reader.get_frames(indices[begin:begin + DECODE_CHUNK])
        height, width = decoded.shape[1:3]
        sides = max(height - height % 8, 8), max(width - width % 8, 8)
        decoded = np.pad(decoded, ((0, 0), (0, max(sides[0] - height, 0)), (0, max(sides[1] - width, 0)), (0, 0)),
                         mode="edge")[:, :sides[0], :sides[1]]
        for start in range(0, len(decoded), DESCRIBE_CHUNK):
            gray, appearance = _pooled_frames(decoded[start:start + DESCRIBE_CHUNK])
            looks.append(appearance)
            if previous is not None or len(gray) > 1:
                gray = gray if previous is None else np.concatenate([previous, gray])
                pairs.append(_signed_log(_pair_descriptors(gray), PAIR_SCALES))
            previous = gray[-1:]
    if not pairs:
        pairs.append(_signed_log(_pair_descriptors(np.concatenate([previous, previous])), PAIR_SCALES))
    features = _window_statistics(np.concatenate(pairs), np.concatenate(looks), stride, window)
    features = (features @ projection_matrix(channels)).astype(np.float32)
    count = len(indices)
    return features, motion_sidecar(Path(path).stem, count, len(features), fps, stride, window, channels)


def synthetic_feature_maker(recipe: dict) -> Callable[[Path], tuple[np.ndarray, FeatureSidecar]] | None:
    """The ``feature_maker`` of :mod:`vidaction.engine.video_detection`: when ``recipe`` (a detector's
    training-feature sidecar) names ``EXTRACTOR``, :func:`video_motion_features` with that recipe as a
    picklable ``video -> (features, sidecar)`` (DataLoader workers run it); else ``None``."""
    return partial(video_motion_features, settings=recipe) if recipe.get("extractor") == EXTRACTOR else None
