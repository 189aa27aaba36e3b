"""The feature sidecar: ``<name>.json`` beside a feature file ``<name>.npy``, saying where the
features' steps lie in time and how they were made. Its one reader (:func:`read_sidecar`) and one
writer (:func:`write_features`), used by ``vidaction extract-features``
(:mod:`vidaction.engine.feature_extraction`), the synthetic detection data
(:mod:`vidaction.data.synthetic_detection`), ``vidaction detect`` (:mod:`vidaction.engine.video_detection`)
and the detection dataset's :class:`~vidaction.data.detection_sources.FeatureSource`.

The JSON object (:class:`FeatureSidecar`; every field optional to a reader):

- the time grid: ``feature_fps``, steps per second (frame fps / stride), and ``time_offset``, the
  seconds of step 0 (when absent, the first of ``feature_times``, as ``extract-features`` writes);
- per video (``PER_VIDEO_FIELDS``): ``video_id``, ``duration`` (s), ``num_features``,
  ``feature_times`` (s, the centre of each step's window), ``shape``, and facts about the source
  (``source``, ``num_frames``, ``num_source_frames``, ``source_fps``, ``padded_frames``);
- the rest is the producer's settings: the feature contract (:mod:`vidaction.data.feature_contract`:
  ``extractor``, ``weights_sha256``, ``fps``, ``window`` and ``stride`` in frames, ``input_size``,
  ``stream``, ``layout`` (``"TC"`` or ``"CTHW"``), ``num_channels``), which detection checks its
  configuration against, and more of the I3D extractor's: ``checkpoint``, ``endpoint``, sizes,
  ``mean``/``std`` ...

The *recipe* (:meth:`FeatureSidecar.recipe`, :func:`feature_recipe`) is the sidecar without its
per-video fields: detectors keep it in their checkpoint (``pretrained_cfg["features"]``) to make
features of new videos the same way.

Writing stores the ``.npy`` then the ``.json``, each atomically (temporary file, then rename), so a
sidecar marks complete features: :func:`complete_sidecar` (resumption) trusts a pair only when the
sidecar parses and the array has its ``shape`` and float32.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vidaction.io import atomic_write

# Sidecar fields that describe one video rather than how its features were made.
PER_VIDEO_FIELDS = ("video_id", "source", "duration", "num_features", "feature_times", "shape", "num_frames",
                    "num_source_frames", "source_fps", "padded_frames")
# Fields with their own attribute; every other per-video field goes to ``details``, the rest to ``settings``.
_NUMBERS = ("feature_fps", "time_offset", "duration")
_TYPED = ("video_id", *_NUMBERS, "num_features", "feature_times", "shape")


class SidecarError(ValueError):
    """A sidecar that cannot be read: ``field`` names the bad field (``"sidecar"`` for the whole file)."""

    def __init__(self, path: str | Path, field: str, reason: str) -> None:
        super().__init__(f"{path}: field {field!r}: {reason}")
        self.path = Path(path)
        self.field = field
        self.reason = reason


@dataclass(frozen=True)
class FeatureSidecar:
    """One feature file's sidecar (module docstring); ``None`` is a field the file does not have.

    ``details`` holds the other per-video fields (``source``, frame counts), ``settings`` everything
    that is not per video apart from ``feature_fps`` and ``time_offset``.
    """

    video_id: str | None = None
    feature_fps: float | None = None
    time_offset: float | None = None
    duration: float | None = None
    num_features: int | None = None
    feature_times: list[float] | None = None
    shape: list[int] | None = None
    details: dict[str, Any] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        misplaced = [k for k in self.details if k not in PER_VIDEO_FIELDS or k in _TYPED]
        misplaced += [k for k in self.settings if k in PER_VIDEO_FIELDS or k in _TYPED]
        if misplaced:
            raise ValueError(f"sidecar fields {misplaced} belong to their own attribute or the other dict")

    @property
    def start_time(self) -> float | None:
        """Seconds of step 0: ``time_offset``, else the first of ``feature_times``."""
        if self.time_offset is None and self.feature_times:
            return self.feature_times[0]
        return self.time_offset

    @property
    def window_steps(self) -> float:
        """Steps spanned by one feature's window (``window / stride`` when the settings state both,
        else 0): how many steps short of ``duration x feature_fps`` a file may be."""
        window, stride = self.settings.get("window"), self.settings.get("stride")
        if isinstance(window, (int, float)) and isinstance(stride, (int, float)):
            return window / stride
        return 0.0

    def recipe(self) -> dict[str, Any]:
        """How the features were made: the sidecar without its per-video fields."""
        grid = {k: getattr(self, k) for k in ("feature_fps", "time_offset") if getattr(self, k) is not None}
        return {**grid, **self.settings}

    def to_json(self) -> dict[str, Any]:
        """The JSON object: typed fields that are set, then ``details``, then ``settings``."""
        typed = {k: getattr(self, k) for k in _TYPED if getattr(self, k) is not None}
        return {**typed, **self.details, **self.settings}

    @classmethod
    def from_json(cls, content: Any, path: str | Path = "sidecar") -> FeatureSidecar:
        """Check and split a parsed sidecar; :class:`SidecarError` names the first bad field."""
        if not isinstance(content, dict):
            raise SidecarError(path, "sidecar", "must be a JSON object")
        for name in _NUMBERS:
            value = content.get(name)
            if value is not None and not isinstance(value, (int, float)):
                raise SidecarError(path, name, f"must be a number, got {value!r}")
        for name, kind in (("video_id", str), ("num_features", int), ("feature_times", list), ("shape", list)):
            if content.get(name) is not None and not isinstance(content[name], kind):
                raise SidecarError(path, name, f"must be a {kind.__name__}, got {content[name]!r}")
        if not all(isinstance(t, (int, float)) for t in content.get("feature_times") or ()):
            raise SidecarError(path, "feature_times", "must be a list of numbers")
        return cls(**{k: content.get(k) for k in _TYPED},
                   details={k: v for k, v in content.items() if k in PER_VIDEO_FIELDS and k not in _TYPED},
                   settings={k: v for k, v in content.items() if k not in PER_VIDEO_FIELDS and k not in _TYPED})


def sidecar_path(features: str | Path) -> Path:
    """``<name>.npy`` -> ``<name>.json``."""
    return Path(features).with_suffix(".json")


def feature_path(folder: str | Path, video_id: str) -> Path:
    """Where the features of ``video_id`` go in ``folder``: ``<folder>/<video_id>.npy``."""
    return Path(folder) / f"{video_id}.npy"


def read_sidecar(features: str | Path) -> FeatureSidecar | None:
    """The sidecar beside the feature file ``features``, ``None`` without one; :class:`SidecarError`
    when it is unreadable, not a JSON object, or has a field of the wrong type."""
    path = sidecar_path(features)
    if not path.is_file():
        return None
    try:
        content = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise SidecarError(path, "sidecar", f"unreadable JSON ({exc})") from exc
    return FeatureSidecar.from_json(content, path)


def feature_recipe(features: str | Path) -> dict[str, Any]:
    """The recipe (:meth:`FeatureSidecar.recipe`) of the features at ``features``; ``{}`` without a sidecar."""
    sidecar = read_sidecar(features)
    return {} if sidecar is None else sidecar.recipe()


def write_sidecar(features_path: str | Path, sidecar: FeatureSidecar) -> Path:
    """The sidecar of ``features_path``, atomically; returns the sidecar's path."""
    text = json.dumps(sidecar.to_json(), indent=1)
    return atomic_write(sidecar_path(features_path), lambda stream: stream.write(text.encode()))


def write_features(features_path: str | Path, features: np.ndarray, sidecar: FeatureSidecar) -> Path:
    """The ``.npy`` then its sidecar (the completion marker), each atomically; returns ``features_path``."""
    features_path = Path(features_path)
    features_path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(features_path, lambda stream: np.save(stream, features))
    write_sidecar(features_path, sidecar)
    return features_path


def complete_sidecar(features: str | Path) -> FeatureSidecar | None:
    """The sidecar of ``features`` if the pair is complete (the array has the sidecar's ``shape`` and
    is float32), else ``None`` (missing, unreadable or half-written)."""
    try:
        sidecar = read_sidecar(features)
        stored = np.load(features, mmap_mode="r")
    except (OSError, ValueError):
        return None
    if sidecar is None or list(stored.shape) != sidecar.shape or stored.dtype != np.float32:
        return None
    return sidecar
