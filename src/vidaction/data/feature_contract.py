"""The feature contract: what a feature file's sidecar (:mod:`vidaction.data.feature_sidecar`) says
about how its features were made, the check that refuses features whose time grid, stream or width
does not fit a detector, and sidecars for ``.npy`` features made by other tools
(``vidaction write-sidecars``).

The contract's fields sit among the sidecar's settings; each may be missing, which means unknown
(older sidecars, other tools), never an error:

- ``extractor``: the network's architecture name (a vidaction registry name such as ``i3d``) or
  another tool's name; ``extractor_arch``: vidaction's architecture record ``{"name", "kwargs"}``;
- ``weights_sha256``: the SHA-256 of the extractor's weights file, or ``"random-init"``;
- ``fps``: frames per second the video was sampled at; ``stride``: frames between the first frames
  of consecutive features' windows; ``window``: frames per feature (the clip length). Features come
  at the sidecar's ``feature_fps = fps / stride`` per second, feature ``i`` centred at
  ``(i * stride + window / 2) / fps`` seconds (``time_offset`` = ``window / 2 / fps``);
- ``input_size``: ``[H, W]`` of the frames the extractor saw;
- ``stream``: ``"rgb"``, ``"flow"``, or ``"rgb+flow"`` for two streams' features concatenated along
  ``C`` (older ``extract-features`` sidecars say ``modality``);
- ``layout``: ``"TC"`` for ``(T, C)`` arrays, ``"CTHW"`` for ``(C, T, H, W)``; ``num_channels``: ``C``.

:func:`check_feature_contract` compares each feature file's sidecar, field by field where both sides
state the field, with the detection config's ``data`` section (:func:`configured_contract`) and with
a reference: a trained detector's training features (``pretrained_cfg["features"]``), else the first
file that has a sidecar, since the features of one dataset must be made alike (``SHARED_FIELDS``;
not the frame rate, which may be each video's own as each file's time grid is its sidecar's, nor
the extractor's name, under which one network may load twice: its weights' SHA-256 is compared). A
mismatch raises :class:`FeatureContractError`, a :class:`~vidaction.config.ConfigError` (the CLI
prints it on one line and exits with status 2) naming the sidecar and the field. Files without a
readable sidecar are left to the dataset, which reports them.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vidaction.config.common import ConfigError
from vidaction.data.errors import AnnotationError
from vidaction.data.feature_sidecar import FeatureSidecar, SidecarError, read_sidecar, sidecar_path, write_sidecar

STREAMS = ("rgb", "flow", "rgb+flow")
# Layout -> number of array dimensions.
LAYOUTS = {"TC": 2, "CTHW": 4}
# Fields the features of one dataset, and a detector's training features and its test features, share.
SHARED_FIELDS = ("stride", "window", "stream", "layout", "num_channels", "weights_sha256")
CONTRACT_FIELDS = (*SHARED_FIELDS, "feature_fps", "fps", "extractor", "extractor_arch", "input_size")


class FeatureContractError(ConfigError):
    """Features that do not fit the configuration, the detector or each other: ``path`` (the sidecar)
    and ``field`` name the mismatch."""

    def __init__(self, path: str | Path, field: str, reason: str) -> None:
        super().__init__(f"{path}: field {field!r}: {reason}")
        self.path = Path(path)
        self.field = field


def contract_of(recipe: Mapping[str, Any]) -> dict[str, Any]:
    """The contract fields that ``recipe`` (a sidecar's :meth:`~FeatureSidecar.recipe`, or a
    detector's ``pretrained_cfg["features"]``) states; ``stream`` from the older ``modality``."""
    stated = {name: recipe[name] for name in CONTRACT_FIELDS if recipe.get(name) is not None}
    if "stream" not in stated and recipe.get("modality") is not None:
        stated["stream"] = recipe["modality"]
    return stated


def _same(stated: Any, wanted: Any) -> bool:
    numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (stated, wanted))
    return math.isclose(stated, wanted, rel_tol=1e-6, abs_tol=1e-9) if numbers else stated == wanted


def configured_contract(cfg: Any) -> dict[str, tuple[Any, str]]:
    """What a detection ``data`` config states about its features: field -> ``(value, config key)``.
    ``stream`` and ``num_channels`` always; ``feature_fps``, ``stride``, ``layout`` when set, and
    the frame rate ``fps`` when both ``feature_fps`` and ``feature_stride`` are."""
    stated = {"stream": (cfg.stream, "data.stream"), "num_channels": (cfg.feature_channels, "data.feature_channels")}
    if cfg.feature_fps > 0:
        stated["feature_fps"] = (cfg.feature_fps, "data.feature_fps")
    if cfg.feature_stride > 0:
        stated["stride"] = (cfg.feature_stride, "data.feature_stride")
    if cfg.feature_fps > 0 and cfg.feature_stride > 0:
        stated["fps"] = (cfg.feature_fps * cfg.feature_stride, "data.feature_fps x data.feature_stride")
    if cfg.feature_layout:
        stated["layout"] = (cfg.feature_layout, "data.feature_layout")
    return stated


def check_feature_contract(cfg: Any, paths: Iterable[str | Path], reference: Mapping[str, Any] | None = None) -> None:
    """Refuse feature files whose sidecars contradict ``cfg`` (a detection ``data`` config; nothing
    to check unless ``cfg.input == "features"``), ``reference`` (a detector's training-feature
    recipe) or, without one, the first file with a sidecar: :class:`FeatureContractError`."""
    if cfg.input != "features":
        return
    configured = configured_contract(cfg)
    against = contract_of(reference) if reference else None
    against_name = "the detector's training features say"
    for path in paths:
        try:
            sidecar = read_sidecar(path)
        except SidecarError:
            continue
        if sidecar is None:
            continue
        stated = contract_of(sidecar.recipe())
        where = sidecar_path(path)
        for name, (wanted, key) in configured.items():
            if name in stated and not _same(stated[name], wanted):
                raise FeatureContractError(where, name, f"the sidecar says {stated[name]!r} but {key} is {wanted!r}")
        if against is None:
            against, against_name = stated, f"{where} says"
            continue
        for name in SHARED_FIELDS:
            if name in stated and name in against and not _same(stated[name], against[name]):
                raise FeatureContractError(where, name, f"the sidecar says {stated[name]!r} but {against_name} "
                                                        f"{against[name]!r}; features made differently cannot be mixed")


def describe_features(path: str | Path, shape: tuple[int, ...], fps: float, stride: int, window: int, stream: str,
                      layout: str, extractor: str | None = None, weights_sha256: str | None = None,
                      dtype: str = "float32") -> FeatureSidecar:
    """The sidecar of a ``shape`` feature file at ``path`` made by sampling at ``fps`` and taking
    windows of ``window`` frames every ``stride``: ``feature_fps = fps / stride``, feature ``i``
    centred at ``(i * stride + window / 2) / fps`` s (ActionFormer's and OpenTAD's convention)."""
    time_axis = 1 if layout == "CTHW" else 0
    settings = dict(fps=float(fps), stride=stride, window=window, stream=stream, layout=layout,
                    num_channels=int(shape[1 - time_axis]), dtype=dtype, extractor=extractor,
                    weights_sha256=weights_sha256)
    return FeatureSidecar(video_id=Path(path).stem, feature_fps=fps / stride, time_offset=window / (2.0 * fps),
                          num_features=int(shape[time_axis]), shape=[int(n) for n in shape],
                          settings={k: v for k, v in settings.items() if v is not None})


@dataclass
class SidecarReport:
    """What :func:`write_sidecars` did: sidecars ``written``, ``kept`` (one was there), ``bad`` ``(path, reason)``."""

    written: list[Path] = field(default_factory=list)
    kept: list[Path] = field(default_factory=list)
    bad: list[tuple[Path, str]] = field(default_factory=list)


def _shape_problem(shape: tuple[int, ...], dtype: np.dtype, layout: str | None) -> str | None:
    if layout is not None and len(shape) != LAYOUTS[layout]:
        return f"shape {shape} is not {layout}: {LAYOUTS[layout]} dimensions expected"
    if len(shape) not in LAYOUTS.values():
        return f"shape {shape}: features must be (T, C) or (C, T, H, W)"
    if dtype.kind != "f":
        return f"dtype {dtype}: features must be floating point"
    if 0 in shape:
        return f"shape {shape} is empty"
    return None


def video_rates(annotations: str | Path) -> dict[str, float]:
    """Each video's ``fps`` in an ActivityNet-style JSON (``database -> video_id -> fps``, as in
    ActionFormer's ``thumos14.json``); videos without one are left out. Raises :class:`AnnotationError`."""
    try:
        database = json.loads(Path(annotations).read_text())["database"]
        return {str(video): float(entry["fps"]) for video, entry in database.items() if entry.get("fps") is not None}
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise AnnotationError(annotations, 0, f"no per-video 'fps' in an ActivityNet-style 'database' ({exc!r})") from exc


def write_sidecars(folder: str | Path, fps: float | None, stride: int, window: int, stream: str,
                   layout: str | None = None, extractor: str | None = None, weights_sha256: str | None = None,
                   overwrite: bool = False, rates: Mapping[str, float] | None = None) -> SidecarReport:
    """A sidecar (:func:`describe_features`) beside every ``.npy`` in ``folder`` that has none (or
    every one, with ``overwrite``), at frame rate ``rates[video_id]`` (:func:`video_rates`), else
    ``fps``. Each array's shape must fit ``layout`` (``None``: ``(T, C)`` or ``(C, T, H, W)`` by its
    dimensions) and hold floats, and all arrays the same ``C``: other files are reported ``bad``
    (the most common ``C`` wins) and get no sidecar."""
    rates = dict(rates or {})
    if (fps is not None and fps <= 0) or any(rate <= 0 for rate in rates.values()) or stride < 1 or window < 1:
        raise ValueError(f"need frame rates > 0 and stride, window >= 1; got fps={fps}, stride={stride}, "
                         f"window={window}")
    if stream not in STREAMS or (layout is not None and layout not in LAYOUTS):
        raise ValueError(f"stream must be one of {list(STREAMS)} and layout one of {list(LAYOUTS)}; "
                         f"got {stream!r}, {layout!r}")
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"no such folder: {folder}")
    arrays = sorted(folder.glob("*.npy"))
    if not arrays:
        raise FileNotFoundError(f"no .npy files in {folder}")
    report = SidecarReport()
    shapes: dict[Path, tuple[tuple[int, ...], str, str]] = {}
    for path in arrays:
        if sidecar_path(path).exists() and not overwrite:
            report.kept.append(path)
            continue
        try:
            array = np.load(path, mmap_mode="r", allow_pickle=False)
        except (OSError, ValueError) as exc:
            report.bad.append((path, f"unreadable .npy ({exc})"))
            continue
        problem = _shape_problem(array.shape, array.dtype, layout)
        if problem is None and rates.get(path.stem, fps) is None:
            problem = "no frame rate: the video is not in the rates file and no fps was given"
        if problem is not None:
            report.bad.append((path, problem))
            continue
        shapes[path] = (array.shape, layout or ("TC" if array.ndim == 2 else "CTHW"), str(array.dtype))
    channels = Counter(shape[1 if kind == "TC" else 0] for shape, kind, _ in shapes.values())
    common = channels.most_common(1)[0][0] if channels else 0
    for path, (shape, kind, dtype) in shapes.items():
        width = shape[1 if kind == "TC" else 0]
        if width != common:
            report.bad.append((path, f"{width} channels (shape {shape}), the other files have {common}"))
            continue
        write_sidecar(path, describe_features(path, shape, rates.get(path.stem, fps), stride, window, stream, kind,
                                              extractor, weights_sha256, dtype))
        report.written.append(path)
    report.bad.sort()
    return report
