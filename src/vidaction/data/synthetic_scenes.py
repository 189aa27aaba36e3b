"""Synthetic untrimmed scenes for temporal action detection: the instance plan and the renderer.

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
class's motion at 30 % amplitude (THUMOS14's ``Ambiguous`` convention: neither a positive nor a
negative for a detector). Background motion (distractors, fades, jitter, flicker, noise) is present
everywhere, so motion energy alone does not separate action from background.

Instances are in frame units: an instance moving on frames ``a .. b - 1`` is ``Instance(label, a, b)``.
Videos are ``(num_frames, size, size, 3) uint8``. :mod:`vidaction.data.synthetic_detection` writes
them as a dataset.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vidaction.data.synthetic import paint, shape_mask, textured_background

DETECTION_CLASSES = ("Bounce", "Pulse", "SlideLeft", "SlideRight", "Spin")
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
