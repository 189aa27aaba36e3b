"""ActivityNet v1.3 temporal annotations (Caba Heilbron et al., CVPR 2015) and ActivityNet-style JSON.

File layout (``activity_net.v1-3.min.json``)::

    {"version": "VERSION 1.3", "taxonomy": [...],
     "database": {"<video id>": {"subset": "training" | "validation" | "testing", "duration": 82.73,
                                 "resolution": "1280x720", "url": "https://www.youtube.com/watch?v=<id>",
                                 "annotations": [{"segment": [start, end], "label": "Mooping floor"}, ...]}}}

Only ``database`` is required (the official evaluator also insists on ``taxonomy`` and ``version``);
per video, ``subset`` is required, ``annotations`` may be missing or empty (the testing subset has
none), ``duration`` and ``fps`` are kept when present, ``resolution`` and ``url`` go to ``meta``. An
optional per-video ``"ambiguous": [[start, end], ...]`` (not part of ActivityNet; vidaction's
synthetic sets write it) gives ``DetectionVideo.ambiguous``.
The same reader serves the ActivityNet-style conversion of THUMOS14
(:mod:`vidaction.data.formats.thumos14`).

Decisions:

* Videos come in file order and each video's segments in annotation order: the order the official
  evaluator reads, on which its tie-breaking depends (see :mod:`vidaction.evaluation.detection_map`).
* Subset names are matched case-insensitively with aliases: ``train``/``training``,
  ``val``/``validation``, ``test``/``testing``; ``DetectionVideo.subset`` holds the canonical name
  (``training``, ``validation``, ``testing``).
* Class list: the explicit ``class_names`` if given (e.g. a previous run's ``classes.txt``; a label
  outside it is an error), otherwise the sorted label names of the *whole* file, all subsets, so the
  index of a class never depends on the subset read (ActivityNet v1.3: 200 classes).
* Segment bounds are numbers or numeric strings (AFSD's and GAF's ``thumos_gt.json`` writes
  ``["18.6", "24.8"]``), read with ``float()`` as the official evaluator reads them.
* Segments are kept as annotated, also where they end after ``duration`` (ActivityNet v1.3 and
  THUMOS14 ship a few such segments, and the official evaluator scores against them as they are);
  whoever cuts training windows clips them. A segment with ``end < start`` or non-finite times, or
  ``start < 0``, is an error naming the video and the annotation.
* Video ids: the JSON keys are YouTube ids without a prefix, while the downloaded videos and the
  common feature releases are named ``v_<id>.mp4`` / ``v_<id>.npy``. ``video_id`` is the key as it
  is (results files are keyed by it, as the official evaluator expects) and
  ``meta["file_stem"] = file_prefix + key`` (``file_prefix="v_"`` for ActivityNet) names the media.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

from vidaction.data.errors import AnnotationError
from vidaction.data.formats.common import finite_number, load_json
from vidaction.data.records import DetectionVideo

SUBSET_ALIASES = {"train": "training", "training": "training", "val": "validation", "validation": "validation",
                  "test": "testing", "testing": "testing"}
ACTIVITYNET_FILE_PREFIX = "v_"


def canonical_subset(name: str) -> str:
    """``"val"`` / ``"Validation"`` -> ``"validation"``; unknown names are only lower-cased."""
    name = str(name).strip().lower()
    return SUBSET_ALIASES.get(name, name)


def _seconds(value: Any) -> float | None:
    """A segment bound as the official evaluator's ``float()`` reads it, a number or a numeric string
    (AFSD's ``"18.6"``), if finite; ``None`` for anything else (a bool, other text, NaN, infinity)."""
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return None
    return float(value) if finite_number(value) else None


def _segment(path: Path, where: str, annotation: Any) -> tuple[float, float]:
    if not isinstance(annotation, dict) or "segment" not in annotation or "label" not in annotation:
        raise AnnotationError(path, 0, f"{where} must be an object with 'segment' and 'label', got {annotation!r}")
    if not isinstance(annotation["label"], str):
        raise AnnotationError(path, 0, f"{where}.label must be a string, got {annotation['label']!r}")
    segment = annotation["segment"]
    bounds = [_seconds(v) for v in segment] if isinstance(segment, list) and len(segment) == 2 else [None]
    if None in bounds:
        raise AnnotationError(path, 0, f"{where}.segment must be [start, end] finite seconds (numbers or numeric "
                                       f"strings), got {segment!r}")
    start, end = bounds
    if start < 0 or end < start:
        raise AnnotationError(path, 0, f"{where}.segment {segment}: need 0 <= start <= end")
    return start, end


def read_anet_style_json(path: str | Path, subset: str, class_names: list[str] | None = None,
                         default_classes: list[str] | None = None, ambiguous_label: str | None = None,
                         file_prefix: str = "") -> tuple[list[DetectionVideo], list[str]]:
    """Videos of ``subset`` in an ActivityNet-style ``database`` JSON, and the class list.

    ``class_names`` (explicit) > ``default_classes`` (a dataset's fixed list) > sorted labels of the
    file. Annotations labelled ``ambiguous_label`` (THUMOS14's ``"Ambiguous"``) become
    ``DetectionVideo.ambiguous`` instead of segments.
    """
    path = Path(path)
    data = load_json(path)
    if not isinstance(data, dict) or not isinstance(data.get("database"), dict):
        raise AnnotationError(path, 0, "no 'database' object: an ActivityNet-style file is "
                              "{'database': {video_id: {'subset', 'duration', 'annotations': [...]}}}")
    database: dict[str, Any] = data["database"]
    for video, entry in database.items():
        if not isinstance(entry, dict) or "subset" not in entry:
            raise AnnotationError(path, 0, f"database[{video!r}] must be an object with a 'subset'")
        if not isinstance(entry.get("annotations", []), list):
            raise AnnotationError(path, 0, f"database[{video!r}].annotations must be a list")
    labels_in_file = {str(a.get("label")) if isinstance(a, dict) else "" for e in database.values()
                      for a in e.get("annotations", [])} - {ambiguous_label}
    if class_names is not None:
        names = list(class_names)
    elif default_classes is not None:
        names = list(default_classes)
    else:
        names = sorted(labels_in_file)
    if len(set(names)) != len(names):
        raise ValueError(f"class names must be unique, got {names}")
    index = {name: i for i, name in enumerate(names)}
    wanted = canonical_subset(subset)
    videos, subsets_seen = [], {}
    for video, entry in database.items():
        found = canonical_subset(entry["subset"])
        subsets_seen[found] = subsets_seen.get(found, 0) + 1
        if found != wanted:
            continue
        segments, labels, ambiguous = [], [], []
        for i, annotation in enumerate(entry.get("annotations", [])):
            where = f"database[{video!r}].annotations[{i}]"
            start, end = _segment(path, where, annotation)
            label = annotation["label"]
            if ambiguous_label is not None and label == ambiguous_label:
                ambiguous.append((start, end))
                continue
            if label not in index:
                close = difflib.get_close_matches(str(label), names, n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                raise AnnotationError(path, 0, f"{where}.label {label!r} is not one of the {len(names)} classes{hint}")
            segments.append((start, end))
            labels.append(index[label])
        extra = entry.get("ambiguous", [])
        if not isinstance(extra, list):
            raise AnnotationError(path, 0, f"database[{video!r}].ambiguous must be a list of [start, end]")
        for i, region in enumerate(extra):
            ambiguous.append(_segment(path, f"database[{video!r}].ambiguous[{i}]", {"segment": region, "label": ""}))
        duration = entry.get("duration")
        if duration is not None and (not finite_number(duration) or duration < 0):
            raise AnnotationError(path, 0, f"database[{video!r}].duration must be a number >= 0, got {duration!r}")
        fps = entry.get("fps")
        if fps is not None and (not finite_number(fps) or fps <= 0):
            raise AnnotationError(path, 0, f"database[{video!r}].fps must be a positive number, got {fps!r}")
        meta = {key: entry[key] for key in ("resolution", "url") if key in entry}
        meta["file_stem"] = file_prefix + video
        videos.append(DetectionVideo(video_id=video, segments=segments, labels=labels,
                                     duration=None if duration is None else float(duration), subset=wanted,
                                     ambiguous=ambiguous, fps=None if fps is None else float(fps), meta=meta))
    if not videos:
        raise AnnotationError(path, 0, f"no videos of subset {subset!r}; subsets in the file: {subsets_seen}")
    return videos, names


def read_activitynet(path: str | Path, subset: str, class_names: list[str] | None = None,
                     file_prefix: str = ACTIVITYNET_FILE_PREFIX) -> tuple[list[DetectionVideo], list[str]]:
    """ActivityNet v1.3 videos of ``subset`` (``training``, ``validation``, ``testing`` or an alias)
    and the class list (sorted label names of the file unless ``class_names`` is given)."""
    return read_anet_style_json(path, subset, class_names=class_names, file_prefix=file_prefix)
