"""Synthetic motion videos: classes that differ only in how things move.

Four time-reversed pairs: ``move_right``/``move_left``, ``rotate_cw``/``rotate_ccw``,
``approach``/``separate``, ``appear``/``disappear``. The second class of a pair is rendered as the
first and played backwards, with parameters from the same distribution, so the *set* of frames of
the two classes is identically distributed: a model that averages per-frame evidence (TSN) can tell
the pair apart but not the direction, while a temporal model (TSM) can. Every clip has a textured
random background, one to three distractor objects moving along random straight paths (their
directions are uniform, so reversal carries no information) and mild noise.

:func:`make_motion_dataset` writes real H.264 mp4 files in the UCF101 layout:
``videos/<class>/v_<class>_gGG_cCC.mp4`` and ``annotations/{classInd,trainlist01,testlist01}.txt``,
split by group as UCF101 is; a ``manifest.json`` records the parameters so an existing dataset
with the same parameters is reused.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np

from vidaction.data.writer import write_video

REVERSAL_PAIRS = (("move_right", "move_left"), ("rotate_cw", "rotate_ccw"),
                  ("approach", "separate"), ("appear", "disappear"))
MOTION_CLASSES = tuple(name for pair in REVERSAL_PAIRS for name in pair)
CLIPS_PER_GROUP = 4
GENERATOR_VERSION = 1


def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    coords = np.arange(size, dtype=np.float32) + 0.5
    return np.meshgrid(coords, coords, indexing="ij")


def shape_mask(kind: str, size: int, cy: np.ndarray, cx: np.ndarray, radius: np.ndarray,
                angle: np.ndarray) -> np.ndarray:
    """Soft masks ``(T, H, W)`` in [0, 1] of a shape centred at ``(cy, cx)`` per frame."""
    yy, xx = _grid(size)
    dy = yy[None] - cy[:, None, None]
    dx = xx[None] - cx[:, None, None]
    cos, sin = np.cos(angle)[:, None, None], np.sin(angle)[:, None, None]
    u, v = cos * dx + sin * dy, -sin * dx + cos * dy
    r = np.maximum(radius[:, None, None], 1e-3)
    if kind == "disc":
        distance = np.sqrt(u ** 2 + v ** 2) - r
    elif kind == "square":
        distance = np.maximum(np.abs(u), np.abs(v)) - r
    else:
        # A bar with a knob on one side: no rotational symmetry, so rotation direction is visible.
        bar = np.maximum(np.abs(u) - r, np.abs(v) - 0.3 * r)
        knob = np.sqrt((u - 0.7 * r) ** 2 + (v - 0.6 * r) ** 2) - 0.45 * r
        distance = np.minimum(bar, knob)
    return np.clip(0.5 - distance, 0.0, 1.0)


def textured_background(rng: np.random.Generator, size: int) -> np.ndarray:
    """A smooth random texture ``(H, W, 3)`` in [0, 1]."""
    cells = int(rng.integers(3, 8))
    coarse = rng.random((cells, cells, 3)).astype(np.float32)
    positions = np.linspace(0, cells - 1, size)
    low = np.floor(positions).astype(int)
    high = np.minimum(low + 1, cells - 1)
    frac = (positions - low)[:, None, None]
    rows = coarse[low] * (1 - frac) + coarse[high] * frac
    texture = rows[:, low] * (1 - frac.transpose(1, 0, 2)) + rows[:, high] * frac.transpose(1, 0, 2)
    stripes = 0.5 + 0.5 * np.sin(2 * np.pi * (_grid(size)[int(rng.integers(2))] / rng.uniform(6, 16)))
    return 0.25 + 0.5 * (0.7 * texture + 0.3 * stripes[..., None] * rng.random(3))


def paint(frames: np.ndarray, mask: np.ndarray, colour: np.ndarray) -> None:
    frames *= 1 - mask[..., None]
    frames += mask[..., None] * colour


def _forward_actor(name: str, rng: np.random.Generator, size: int, num_frames: int) -> list[tuple]:
    """The actor objects of the forward class of each pair: ``(kind, cy, cx, radius, angle)``."""
    t = np.linspace(0.0, 1.0, num_frames, dtype=np.float32)
    ones = np.ones(num_frames, dtype=np.float32)
    radius = rng.uniform(0.09, 0.14) * size * ones
    kind = str(rng.choice(["disc", "square"]))
    if name == "move_right":
        cy = rng.uniform(0.25, 0.75) * size * ones
        start = rng.uniform(0.15, 0.3) * size
        cx = start + t * rng.uniform(0.4, 0.55) * size
        return [(kind, cy, cx, radius, 0 * ones)]
    if name == "rotate_cw":
        cy, cx = (rng.uniform(0.35, 0.65, size=2) * size)[:, None] * ones
        start = rng.uniform(0, 2 * np.pi)
        return [("bar", cy, cx, 1.6 * radius, start + t * rng.uniform(0.6, 0.9) * np.pi)]
    if name == "approach":
        cy = rng.uniform(0.3, 0.7) * size * ones
        gap = (0.7 - 0.45 * t) * size / 2
        centre = rng.uniform(0.45, 0.55) * size
        return [(kind, cy, centre - gap, 0.8 * radius, 0 * ones), (kind, cy, centre + gap, 0.8 * radius, 0 * ones)]
    if name == "appear":
        cy, cx = (rng.uniform(0.3, 0.7, size=2) * size)[:, None] * ones
        return [(kind, cy, cx, 1.3 * radius * np.clip(1.6 * t - 0.3, 0.0, 1.0), 0 * ones)]
    raise ValueError(f"{name!r} is not the forward class of a pair")


def render_motion_clip(class_name: str, rng: np.random.Generator, size: int = 64,
                       num_frames: int = 16) -> np.ndarray:
    """One clip of ``class_name`` as ``(T, H, W, 3) uint8``."""
    pair = next((p for p in REVERSAL_PAIRS if class_name in p), None)
    if pair is None:
        raise ValueError(f"unknown motion class {class_name!r}; known: {', '.join(MOTION_CLASSES)}")
    frames = np.repeat(textured_background(rng, size)[None], num_frames, axis=0).astype(np.float32)
    t = np.linspace(0.0, 1.0, num_frames, dtype=np.float32)
    for _ in range(int(rng.integers(1, 4))):
        start, heading = rng.uniform(0.1, 0.9, size=2) * size, rng.uniform(0, 2 * np.pi)
        travel = rng.uniform(0.2, 0.5) * size
        cy = start[0] + np.sin(heading) * travel * t
        cx = start[1] + np.cos(heading) * travel * t
        radius = rng.uniform(0.04, 0.08) * size * np.ones_like(t)
        paint(frames, shape_mask(str(rng.choice(["disc", "square"])), size, cy, cx, radius, 0 * t),
               rng.random(3))
    colour = rng.random(3)
    for kind, cy, cx, radius, angle in _forward_actor(pair[0], rng, size, num_frames):
        paint(frames, shape_mask(kind, size, cy, cx, radius, angle), colour)
    frames += rng.normal(0.0, 0.02, size=frames.shape).astype(np.float32)
    clip = (np.clip(frames, 0.0, 1.0) * 255).round().astype(np.uint8)
    return clip[::-1].copy() if class_name == pair[1] else clip


def _manifest(videos_per_class: int, size: int, num_frames: int, fps: float, seed: int,
              classes: tuple[str, ...], test_fraction: float) -> dict:
    params = dict(task="motion", version=GENERATOR_VERSION, videos_per_class=videos_per_class, size=size,
                  num_frames=num_frames, fps=fps, seed=seed, classes=list(classes), test_fraction=test_fraction)
    params["hash"] = hashlib.sha1(json.dumps(params, sort_keys=True).encode()).hexdigest()[:12]
    return params


def make_motion_dataset(out_dir: str | Path, videos_per_class: int = 24, size: int = 64, num_frames: int = 16,
                        fps: float = 12.0, seed: int = 0, classes: tuple[str, ...] | None = None,
                        test_fraction: float = 0.25) -> Path:
    """Write the dataset (or reuse an identical one) and return ``out_dir``."""
    classes = tuple(classes or MOTION_CLASSES)
    unknown = [c for c in classes if c not in MOTION_CLASSES]
    if unknown:
        raise ValueError(f"unknown motion classes {unknown}; known: {', '.join(MOTION_CLASSES)}")
    if size % 2 or size < 16:
        raise ValueError(f"size must be even and >= 16 (H.264), got {size}")
    if videos_per_class < 2:
        raise ValueError("videos_per_class must be >= 2 (one train and one test video)")
    out = Path(out_dir)
    manifest = _manifest(videos_per_class, size, num_frames, fps, seed, classes, test_fraction)
    manifest_path = out / "manifest.json"
    if manifest_path.is_file() and json.loads(manifest_path.read_text()) == manifest:
        return out
    for sub in ("videos", "annotations"):
        shutil.rmtree(out / sub, ignore_errors=True)
    # UCF101 keeps all clips of a group (same actor) on one side of the split; small sets use
    # one clip per group so both sides get videos.
    per_group = CLIPS_PER_GROUP if videos_per_class >= 2 * CLIPS_PER_GROUP else 1
    groups = -(-videos_per_class // per_group)
    test_groups = min(max(1, round(groups * test_fraction)), groups - 1)
    train_lines, test_lines = [], []
    for label, name in enumerate(classes, 1):
        for k in range(videos_per_class):
            group, clip = k // per_group + 1, k % per_group + 1
            relative = f"{name}/v_{name}_g{group:02d}_c{clip:02d}.mp4"
            rng = np.random.default_rng((seed, label, k))
            write_video(out / "videos" / relative, render_motion_clip(name, rng, size, num_frames), fps=fps)
            if group > groups - test_groups:
                test_lines.append(relative)
            else:
                train_lines.append(f"{relative} {label}")
    annotations = out / "annotations"
    annotations.mkdir(parents=True, exist_ok=True)
    (annotations / "classInd.txt").write_text("".join(f"{i} {n}\n" for i, n in enumerate(classes, 1)))
    (annotations / "trainlist01.txt").write_text("\n".join(train_lines) + "\n")
    (annotations / "testlist01.txt").write_text("\n".join(test_lines) + "\n")
    manifest_path.write_text(json.dumps(manifest, indent=2))
    return out
