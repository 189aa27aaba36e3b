"""Synthetic untrimmed videos for temporal action detection, with THUMOS14/ActivityNet-style
annotations and pre-extracted, network-free features.

Each video (20-60 s at 10 fps, 64 x 64 by default) shows one *actor*, a bar with a knob (no rotational
symmetry, so spinning is visible), over a textured background (``synthetic.textured_background``)
with slowly flickering brightness, pixel noise, and one to three smaller *distractor* discs and squares that
wander all the time at speeds changing every 3-10 s (0.05-1.2 px per frame) and bounce off the
borders. Between actions the actor idles with a small jitter; now and then, and whenever the next
action needs room, it fades out and fades in elsewhere with a new colour and size. An action
instance is the actor performing a class's motion for a class-specific duration (``CLASS_SECONDS``,
1.5-6 s):

- ``Bounce``: hops up and back once per 0.7-1.1 s (height 12-22 % of the frame);
- ``Pulse``: grows to up to 1.7 x its size and back, once per 0.7-1.1 s;
- ``SlideLeft`` / ``SlideRight``: glides 30-45 % of the frame width with an ease-in-out profile;
- ``Spin``: turns 1-2 full turns, either way, eased in and out.

Two to six instances of one to three classes (one of them cycling over the classes from video to
video, so all get about as many videos) lie amid background gaps of at least 1.5 s; 28 % of the
default set is action. Some long gaps hold an *ambiguous* region: a random
class's motion at 30 % amplitude, listed in ``Ambiguous_*.txt`` (THUMOS14's convention: neither a
positive nor a negative for a detector). Background motion (distractors, fades, jitter, flicker,
noise) is present everywhere, so motion energy alone does not separate action from background.

:func:`make_detection_dataset` writes (``S`` the subset: ``validation`` for training, ``test``)::

    videos/video_<S>_0000001.mp4 ...           H.264, constant frame rate
    annotations/<Class>_val.txt, <Class>_test.txt, Ambiguous_val.txt, Ambiguous_test.txt
                                               THUMOS14 lines "video_id start end" in seconds
    annotations/classes.txt                    class names in label order (alphabetical)
    activitynet.json                           {"version", "database": {video_id: {"subset": S,
                                               "duration", "fps", "resolution", "url",
                                               "annotations": [{"segment": [s, e], "label"}],
                                               "ambiguous": [[s, e], ...]}}}
    features/<video_id>.npy, <video_id>.json   (T, C) float32 and its sidecar (below)
    manifest.json                              the parameters; an identical dataset is reused

Instance bounds are frame times: an instance moving on frames ``a .. b - 1`` is ``[a / fps, b / fps]``.

Features (:func:`motion_features`), fixed and deterministic, no network. Frames are averaged over
2 x 2 pixels and turned gray (``g``). For each consecutive pair, with temporal difference ``d`` and the
spatial gradient ``(g_x, g_y)`` of the pair's mean, a Lucas-Kanade flow ``(u, v)`` is solved in each
4 x 4 block (ridge ``LK_RIDGE`` on the structure tensor) and weighted by the block's motion evidence
``w = max(mean |d| - MOTION_THRESHOLD, 0)``. The pair gives ``PAIR_DIMS`` = 64 numbers: an
8-orientation histogram of the flow weighted by ``w |(u, v)|`` in each of 2 x 2 cells (32); the
``w``-weighted mean ``u``, ``v`` and speed (3); the positive and negative parts of the flow field's
divergence and curl (4) and of its radial and tangential components about the motion centroid (4);
the moving-block fraction (1) and the motion's spread in y and x (2); the mean ``|d|`` and mean ``w``
(2); and ``|d|`` averaged in 4 x 4 cells (16); each mapped by ``sign(x) log(1 + |x| / s)`` with fixed
scales ``PAIR_SCALES``. A feature step summarises ``window`` frames (8) centred on its ``stride``-frame
bin (2; frames past either end repeat the edge frame): the mean, maximum, minimum and standard
deviation over its pairs (256) and the mean colour and texture (gray standard deviation) of its
frames in 2 x 2 cells (16), ``DESCRIPTOR_DIMS`` = 272 in all, times a fixed Gaussian projection
(seed ``PROJECTION_SEED``, entries ``N(0, 1 / 272)``) to ``C`` channels (128). Step ``i`` covers frames
``[i * stride, (i + 1) * stride)`` and is timed at its centre, ``time_offset + i / feature_fps`` with
``feature_fps = fps / stride`` and ``time_offset = stride / (2 fps)``; a video of ``N`` frames has
``ceil(N / stride)`` steps. Features are computed from the rendered frames, before H.264 coding.
Sidecar keys (:mod:`vidaction.data.feature_sidecar`, those of ``vidaction extract-features`` where
they overlap): ``video_id``, ``feature_fps``, ``time_offset``, ``feature_times``, ``duration``, ``fps``
(of the frames), ``stride`` and ``window`` (frames), ``num_features``, ``num_channels``, ``layout``
(``"TC"``), ``extractor``.

Learnability (``benchmarks/synthetic_detection.py``, default dataset): a per-position logistic
regression on these features, trained on the ``validation`` videos and scored on the ``test``
videos, tells action from background with balanced accuracy 0.88 (AUC 0.95; chance 0.5) and names
the class of action positions with accuracy 0.79 (chance 0.2, majority class 0.30).
"""

from __future__ import annotations

import hashlib
import json
import math
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vidaction.data.feature_sidecar import FeatureSidecar, feature_path, write_features
from vidaction.data.sampling import indices_at_fps
from vidaction.data.synthetic import paint, shape_mask, textured_background
from vidaction.data.video import VideoReader
from vidaction.data.writer import write_video

DETECTION_CLASSES = ("Bounce", "Pulse", "SlideLeft", "SlideRight", "Spin")
SUBSETS = {"validation": "val", "test": "test"}
GENERATOR_VERSION = 1
EXTRACTOR = "vidaction-motion-descriptor-v1"
PROJECTION_SEED = 20140101
PAIR_DIMS = 64
APPEARANCE_DIMS = 16
DESCRIPTOR_DIMS = 4 * PAIR_DIMS + APPEARANCE_DIMS
LK_BLOCK = 4
LK_RIDGE = 1e-3
MOTION_THRESHOLD = 0.02
MIN_GAP_SECONDS = 1.5
# Instance durations per class (seconds): every class has its own typical length, as real actions do.
CLASS_SECONDS = {"Bounce": (2.0, 5.0), "Pulse": (2.0, 6.0), "SlideLeft": (1.5, 3.5), "SlideRight": (1.5, 3.5),
                 "Spin": (1.5, 4.0)}
FADE_SECONDS = 0.5
AMBIGUOUS_AMPLITUDE = 0.3


@dataclass(frozen=True)
class Instance:
    """An action (or ambiguous) interval: class index, frames ``start .. end - 1``, motion amplitude."""

    label: int
    start: int
    end: int
    amplitude: float = 1.0


def plan_instances(rng: np.random.Generator, num_frames: int, fps: float,
                   classes: tuple[str, ...] = DETECTION_CLASSES,
                   primary: int | None = None) -> tuple[list[Instance], list[Instance]]:
    """Instances and ambiguous regions of one video, in frame units, sorted by start, disjoint.

    The video's one to three classes include ``primary`` when given (the dataset cycles it over the
    classes so that every class gets about as many videos).
    """
    min_gap = round(MIN_GAP_SECONDS * fps)
    num_classes = len(classes)
    count = int(rng.integers(1, min(3, num_classes) + 1))
    if primary is None:
        video_classes = rng.choice(num_classes, size=count, replace=False)
    else:
        others = rng.permutation([c for c in range(num_classes) if c != primary])
        video_classes = np.array([primary, *others[:count - 1]])
    labels = [int(video_classes[0])] + [int(rng.choice(video_classes)) for _ in range(int(rng.integers(1, 6)))]
    lengths = [round(rng.uniform(*CLASS_SECONDS[classes[label]]) * fps) for label in labels]
    # keep at most ~45 % action and room for the gaps (the first, primary-class instance stays)
    while len(lengths) > 1 and (sum(lengths) > 0.45 * num_frames
                                or num_frames - sum(lengths) < (len(lengths) + 1) * min_gap):
        lengths.pop()
    order = rng.permutation(len(lengths))
    labels, lengths = [labels[i] for i in order], [lengths[i] for i in order]
    free = num_frames - sum(lengths) - (len(lengths) + 1) * min_gap
    if free < 0:
        raise ValueError(f"a video of {num_frames} frames is too short for an instance and its gaps")
    shares = rng.dirichlet(np.ones(len(lengths) + 1))
    gaps = min_gap + np.floor(shares * free).astype(int)
    instances, ambiguous = [], []
    position = 0
    for k, length in enumerate(lengths):
        gap_start, position = position, position + int(gaps[k])
        _maybe_ambiguous(rng, gap_start, position, fps, num_classes, ambiguous)
        instances.append(Instance(labels[k], position, position + length))
        position += length
    _maybe_ambiguous(rng, position, num_frames, fps, num_classes, ambiguous)
    return instances, ambiguous


def _maybe_ambiguous(rng: np.random.Generator, gap_start: int, gap_end: int, fps: float, num_classes: int,
                     out: list[Instance]) -> None:
    """In a gap of at least 5 s, with probability 0.35, a 1-2 s ambiguous region in its middle part."""
    length = round(rng.uniform(1.0, 2.0) * fps)
    margin = round(1.5 * fps)
    if gap_end - gap_start < 5 * fps or rng.random() > 0.35:
        return
    start = int(rng.integers(gap_start + margin, gap_end - margin - length + 1))
    out.append(Instance(int(rng.integers(num_classes)), start, start + length, AMBIGUOUS_AMPLITUDE))


def _suitable(name: str, cy: float, cx: float) -> bool:
    """Whether an actor at ``(cy, cx)`` (fractions of the frame) has room for ``name``."""
    if name == "SlideRight":
        return cx <= 0.45 and 0.2 <= cy <= 0.8
    if name == "SlideLeft":
        return cx >= 0.55 and 0.2 <= cy <= 0.8
    if name == "Bounce":
        return cy >= 0.42 and 0.2 <= cx <= 0.8
    return 0.25 <= cy <= 0.75 and 0.25 <= cx <= 0.75


def _spawn_position(rng: np.random.Generator, name: str) -> tuple[float, float]:
    if name == "SlideRight":
        return rng.uniform(0.25, 0.75), rng.uniform(0.15, 0.3)
    if name == "SlideLeft":
        return rng.uniform(0.25, 0.75), rng.uniform(0.7, 0.85)
    if name == "Bounce":
        return rng.uniform(0.5, 0.78), rng.uniform(0.3, 0.7)
    return rng.uniform(0.3, 0.7), rng.uniform(0.3, 0.7)


class _Actor:
    """Per-frame state of the actor: centre (fractions), size, angle, opacity and colour."""

    def __init__(self, rng: np.random.Generator, num_frames: int) -> None:
        self.cy = np.zeros(num_frames)
        self.cx = np.zeros(num_frames)
        self.radius = np.zeros(num_frames)
        self.angle = np.zeros(num_frames)
        self.alpha = np.ones(num_frames)
        self.colour = np.zeros((num_frames, 3))
        self.state = {"cy": rng.uniform(0.3, 0.7), "cx": rng.uniform(0.3, 0.7), "radius": rng.uniform(0.1, 0.13),
                      "angle": rng.uniform(0, 2 * np.pi), "colour": rng.random(3)}

    def hold(self, rng: np.random.Generator, start: int, end: int) -> None:
        """Idle on frames ``start .. end - 1``: a smoothed sub-pixel jitter around the current state."""
        if end <= start:
            return
        n = end - start
        jitter = np.cumsum(rng.normal(0, 0.002, size=(n, 3)), axis=0)
        jitter -= np.linspace(0, 1, n)[:, None] * jitter[-1]  # return to the resting state
        s = self.state
        self.cy[start:end] = s["cy"] + jitter[:, 0]
        self.cx[start:end] = s["cx"] + jitter[:, 1]
        self.angle[start:end] = s["angle"] + 3 * jitter[:, 2]
        self.radius[start:end] = s["radius"]
        self.colour[start:end] = s["colour"]

    def idle(self, rng: np.random.Generator, start: int, end: int, fps: float, next_class: str | None) -> None:
        """A gap: hold, and respawn (fade out, move, fade in) when the next action needs room or at random."""
        fade = round(FADE_SECONDS * fps)
        s = self.state
        needs_room = next_class is not None and not _suitable(next_class, s["cy"], s["cx"])
        if end - start >= 2 * fade + 4 and (needs_room or rng.random() < 0.3):
            out = int(rng.integers(start + 1, end - 2 * fade - 1))
            self.hold(rng, start, out + fade)
            self.alpha[out:out + fade] = np.linspace(1, 0, fade)
            s["cy"], s["cx"] = _spawn_position(rng, next_class) if next_class else rng.uniform(0.3, 0.7, size=2)
            s["radius"], s["colour"] = rng.uniform(0.1, 0.13), rng.random(3)
            self.hold(rng, out + fade, end)
            self.alpha[out + fade:out + 2 * fade] = np.linspace(0, 1, fade)
        else:
            self.hold(rng, start, end)

    def act(self, rng: np.random.Generator, name: str, start: int, end: int, fps: float, amplitude: float) -> None:
        """Perform ``name`` on frames ``start .. end - 1`` (``t`` runs 0 -> 1 over the instance)."""
        self.hold(rng, start, end)
        n = end - start
        t = np.arange(n) / max(n - 1, 1)
        ease = (1 - np.cos(np.pi * t)) / 2
        s = self.state
        cycles = max(1, round(n / fps / rng.uniform(0.7, 1.1)))
        if name in ("SlideRight", "SlideLeft"):
            sign = 1 if name == "SlideRight" else -1
            room = (0.9 - s["cx"]) if sign > 0 else (s["cx"] - 0.1)
            distance = sign * amplitude * min(rng.uniform(0.3, 0.45), room)
            self.cx[start:end] += distance * ease
            s["cx"] += distance
        elif name == "Bounce":
            height = amplitude * max(min(rng.uniform(0.12, 0.22), s["cy"] - 0.15), 0.0)
            self.cy[start:end] -= height * np.abs(np.sin(np.pi * cycles * t))
        elif name == "Spin":
            turn = amplitude * rng.choice([-1, 1]) * rng.uniform(1.0, 2.0) * 2 * np.pi
            self.angle[start:end] += turn * ease
            s["angle"] += turn
        elif name == "Pulse":
            self.radius[start:end] *= 1 + amplitude * 0.7 * np.sin(np.pi * cycles * t) ** 2
        else:
            raise ValueError(f"unknown detection class {name!r}; known: {', '.join(DETECTION_CLASSES)}")


def _distractor_tracks(rng: np.random.Generator, num_frames: int, fps: float, size: int) -> list[tuple]:
    """``(kind, cy, cx, radius, colour)`` of 1-3 wanderers with piecewise-constant velocities."""
    tracks = []
    for _ in range(int(rng.integers(1, 4))):
        position = rng.uniform(0.1, 0.9, size=2) * size
        ys, xs = np.zeros(num_frames), np.zeros(num_frames)
        velocity = np.zeros(2)
        change = 0
        for f in range(num_frames):
            if f == change:
                heading, speed = rng.uniform(0, 2 * np.pi), rng.uniform(0.1, 0.8) * rng.uniform(0.5, 1.5)
                velocity = speed * np.array([np.sin(heading), np.cos(heading)])
                change = f + int(rng.uniform(3, 10) * fps)
            position = position + velocity
            for axis in range(2):
                if not 0.05 * size <= position[axis] <= 0.95 * size:
                    velocity[axis] = -velocity[axis]
                    position[axis] = np.clip(position[axis], 0.05 * size, 0.95 * size)
            ys[f], xs[f] = position
        radius = rng.uniform(0.03, 0.05) * size * np.ones(num_frames)
        tracks.append((str(rng.choice(["disc", "square"])), ys, xs, radius, rng.random(3)))
    return tracks


def render_detection_video(rng: np.random.Generator, instances: list[Instance], ambiguous: list[Instance],
                           num_frames: int, fps: float, size: int = 64,
                           classes: tuple[str, ...] = DETECTION_CLASSES) -> np.ndarray:
    """One untrimmed video ``(num_frames, size, size, 3) uint8`` with the given (sorted, disjoint) events."""
    events = sorted(instances + ambiguous, key=lambda e: e.start)
    actor = _Actor(rng, num_frames)
    position = 0
    for event in events:
        actor.idle(rng, position, event.start, fps, classes[event.label])
        actor.act(rng, classes[event.label], event.start, event.end, fps, event.amplitude)
        position = event.end
    actor.idle(rng, position, num_frames, fps, None)
    frames = np.repeat(textured_background(rng, size)[None], num_frames, axis=0).astype(np.float32)
    period, phase = rng.uniform(8, 20) * fps, rng.uniform(0, 2 * np.pi)
    flicker = 1 + 0.06 * np.sin(2 * np.pi * np.arange(num_frames) / period + phase)
    frames *= flicker.astype(np.float32)[:, None, None, None]
    zero = np.zeros(num_frames, dtype=np.float32)
    for kind, cy, cx, radius, colour in _distractor_tracks(rng, num_frames, fps, size):
        paint(frames, shape_mask(kind, size, *(a.astype(np.float32) for a in (cy, cx, radius, zero))), colour)
    track = (actor.cy * size, actor.cx * size, 1.5 * actor.radius * size, actor.angle)
    mask = shape_mask("bar", size, *(a.astype(np.float32) for a in track))
    mask *= actor.alpha[:, None, None].astype(np.float32)
    frames *= 1 - mask[..., None]
    frames += mask[..., None] * actor.colour[:, None, None, :].astype(np.float32)
    frames += rng.normal(0.0, 0.02, size=frames.shape).astype(np.float32)
    return (np.clip(frames, 0.0, 1.0) * 255).round().astype(np.uint8)


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


def motion_descriptor(frames: np.ndarray, stride: int = 2, window: int = 8) -> np.ndarray:
    """The un-projected descriptor ``(ceil(N / stride), DESCRIPTOR_DIMS)`` of ``(N, H, W, 3) uint8`` frames."""
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or len(frames) < 2:
        raise ValueError(f"need (N >= 2, H, W, 3) frames, got {frames.shape}")
    n, height, width = frames.shape[:3]
    if height % 8 or width % 8:
        raise ValueError(f"frame sides must be multiples of 8, got {height}x{width}")
    if window < stride or (window - stride) % 2:
        raise ValueError(f"need window >= stride of the same parity, got {window}, {stride}")
    rgb = frames.astype(np.float32) / 255.0
    pooled = rgb.reshape(n, height // 2, 2, width // 2, 2, 3).mean(axis=(2, 4))
    pairs = _signed_log(_pair_descriptors(pooled.mean(axis=-1)), PAIR_SCALES)
    cells = pooled.reshape(n, 2, height // 4, 2, width // 4, 3)
    colour = cells.mean(axis=(2, 4)).reshape(n, 12)
    texture = cells.mean(axis=-1).std(axis=(2, 4)).reshape(n, 4)
    appearance = np.concatenate([colour, _signed_log(texture, 0.05)], axis=1)
    steps = math.ceil(n / stride)
    half = (window - stride) // 2
    out = np.empty((steps, DESCRIPTOR_DIMS), dtype=np.float32)
    for i in range(steps):
        first = i * stride - half
        chunk = pairs[np.clip(np.arange(first, first + window - 1), 0, n - 2)]
        look = appearance[np.clip(np.arange(first, first + window), 0, n - 1)]
        out[i] = np.concatenate([chunk.mean(0), chunk.max(0), chunk.min(0), chunk.std(0), look.mean(0)])
    return out


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
    feature recipe of a sidecar written by :func:`make_detection_dataset` (``fps``, ``stride``,
    ``window``, ``num_channels``) applied to any video, e.g. for ``vidaction detect``."""
    reader = VideoReader(path)
    fps, stride, window = float(settings["fps"]), int(settings["stride"]), int(settings["window"])
    channels = int(settings["num_channels"])
    frames = reader.get_frames(indices_at_fps(reader.timestamps(), fps, reader.duration))
    features = motion_features(frames, channels, stride, window).astype(np.float32)
    return features, motion_sidecar(Path(path).stem, len(frames), len(features), fps, stride, window, channels)


def _manifest(**params) -> dict:
    params = dict(task="detection", version=GENERATOR_VERSION, extractor=EXTRACTOR, **params)
    params["hash"] = hashlib.sha1(json.dumps(params, sort_keys=True).encode()).hexdigest()[:12]
    return params


def _seconds(frame: int, fps: float) -> float:
    return round(frame / fps, 4)


def _fmt(value: float) -> str:
    return f"{value:.4f}".rstrip("0").rstrip(".")


def make_detection_dataset(root: str | Path, num_train: int = 30, num_test: int = 20, size: int = 64,
                           fps: float = 10.0, min_duration: float = 20.0, max_duration: float = 60.0,
                           channels: int = 128, feature_stride: int = 2, feature_window: int = 8, seed: int = 0,
                           classes: tuple[str, ...] | None = None) -> Path:
    """Write the dataset described in the module docstring (or reuse an identical one); returns ``root``.

    ``num_train`` videos form the ``validation`` subset (THUMOS14 trains on its validation set) and
    ``num_test`` the ``test`` subset.
    """
    classes = tuple(sorted(classes or DETECTION_CLASSES))  # THUMOS14 readers sort class files by name
    unknown = [c for c in classes if c not in DETECTION_CLASSES]
    if unknown or not classes:
        raise ValueError(f"unknown detection classes {unknown}; known: {', '.join(DETECTION_CLASSES)}")
    if size % 8 or size < 32:
        raise ValueError(f"size must be a multiple of 8 and >= 32, got {size}")
    if num_train < 1 or num_test < 1:
        raise ValueError("need at least one training and one test video")
    if not 12.0 <= min_duration <= max_duration:
        raise ValueError(f"need 12 <= min_duration <= max_duration, got {min_duration}, {max_duration}")
    if feature_stride < 1 or feature_window < feature_stride or (feature_window - feature_stride) % 2:
        raise ValueError(f"need feature_window >= feature_stride >= 1 of equal parity, "
                         f"got {feature_window}, {feature_stride}")
    out = Path(root)
    manifest = _manifest(num_train=num_train, num_test=num_test, size=size, fps=fps, min_duration=min_duration,
                         max_duration=max_duration, channels=channels, feature_stride=feature_stride,
                         feature_window=feature_window, seed=seed, classes=list(classes))
    manifest_path = out / "manifest.json"
    if manifest_path.is_file() and json.loads(manifest_path.read_text()) == manifest:
        return out
    manifest_path.unlink(missing_ok=True)
    for sub in ("videos", "features", "annotations"):
        shutil.rmtree(out / sub, ignore_errors=True)
    (out / "annotations").mkdir(parents=True)
    (out / "features").mkdir()
    lines = {(name, subset): [] for name in (*classes, "Ambiguous") for subset in SUBSETS.values()}
    database = {}
    for subset, suffix in SUBSETS.items():
        for k in range(num_train if subset == "validation" else num_test):
            video_id = f"video_{subset}_{k + 1:07d}"
            rng = np.random.default_rng((seed, 0 if subset == "validation" else 1, k))
            num_frames = round(rng.uniform(min_duration, max_duration) * fps)
            instances, ambiguous = plan_instances(rng, num_frames, fps, classes, primary=k % len(classes))
            frames = render_detection_video(rng, instances, ambiguous, num_frames, fps, size, classes)
            write_video(out / "videos" / f"{video_id}.mp4", frames, fps=fps)
            features = motion_features(frames, channels, feature_stride, feature_window)
            sidecar = motion_sidecar(video_id, num_frames, len(features), fps, feature_stride, feature_window, channels)
            write_features(feature_path(out / "features", video_id), features, sidecar)
            duration = num_frames / fps
            annotations = []
            for event in instances:
                start, end = _seconds(event.start, fps), _seconds(event.end, fps)
                lines[(classes[event.label], suffix)].append(f"{video_id} {_fmt(start)} {_fmt(end)}")
                annotations.append({"segment": [start, end], "label": classes[event.label]})
            for event in ambiguous:
                lines[("Ambiguous", suffix)].append(
                    f"{video_id} {_fmt(_seconds(event.start, fps))} {_fmt(_seconds(event.end, fps))}")
            database[video_id] = {
                "subset": subset, "duration": duration, "fps": fps, "resolution": f"{size}x{size}", "url": "",
                "annotations": annotations,
                "ambiguous": [[_seconds(e.start, fps), _seconds(e.end, fps)] for e in ambiguous],
            }
    for (name, suffix), entries in lines.items():
        (out / "annotations" / f"{name}_{suffix}.txt").write_text("".join(f"{line}\n" for line in entries))
    (out / "annotations" / "classes.txt").write_text("".join(f"{name}\n" for name in classes))
    (out / "activitynet.json").write_text(json.dumps(
        {"version": f"vidaction-synthetic-detection-{GENERATOR_VERSION}", "database": database}, indent=1))
    manifest_path.write_text(json.dumps(manifest, indent=2))
    return out
