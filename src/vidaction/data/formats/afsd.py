"""The annotation files that AFSD's and GAF's repositories ship (Lin et al., CVPR 2021, "Learning
Salient Boundary Feature for Anchor-free Temporal Action Localization"; GAF builds on AFSD's code),
read as published into :class:`~vidaction.data.records.DetectionVideo` records.

``thumos_annotations/`` (THUMOS14), a pair per subset plus a class index:

* ``val_Annotation.csv`` / ``test_Annotation.csv``: header ``video,type,type_idx,start,end,startFrame,endFrame``,
  one instance per row, e.g. ``video_validation_0000051,Billiards,12,67.5,75.9,2025,2277``; ``type_idx``
  is the UCF101 class id of ``Class Index_Detection.txt``, ``start``/``end`` seconds with one decimal.
  The ``Ambiguous`` rows (``type_idx`` 0; 89 in val, 99 in test) become ``DetectionVideo.ambiguous``;
  the ``*_Annotation_ours.csv`` variants (what AFSD's configs train on) are the same files without them.
* ``val_video_info.csv`` / ``test_video_info.csv``: header ``video,fps,sample_fps,count,sample_count``,
  e.g. ``video_validation_0000051,30.0,10.0,5091.0,1697``: the video's frame rate, AFSD's sampling
  rate (10), its frame count (written as a float) and the sampled frame count,
  ``sample_count = floor(count / fps * sample_fps)``.
* ``Class Index_Detection.txt``: ``7 BaseballPitch`` ... ``97 VolleyballSpiking`` (AFSD's copy has
  CRLF line endings, GAF's LF), the 20 classes in :data:`~vidaction.data.formats.thumos14.THUMOS14_CLASSES` order.

Decisions (THUMOS14):

* Segments are the ``start``/``end`` seconds. ``startFrame``/``endFrame`` (which AFSD's loader uses,
  scaled by ``sample_count / count``) must be non-negative integers but are not used: they were
  computed at 30 fps also for the 29.97-fps videos (up to 1.65 s off in ``video_test_0000793``) and
  for the 25-fps ``video_validation_0000666`` (up to 130 s off).
* The videos are those of the video-info file, sorted by name, each with ``duration = count / fps``,
  ``fps``, and ``meta`` ``{"file_stem", "sample_fps", "count", "sample_count"}``; a video without
  rows is a record without segments. A row of a video missing from the video-info file is an error,
  except ``Ambiguous`` rows (``video_test_0001292`` has only those and no video info): they are left out.
* Classes: ``class_names`` if given (rows matched by ``type``), else ``Class Index_Detection.txt``
  beside the annotation file (where AFSD's code looks for it), else the 20 official classes; rows are
  matched by ``type_idx`` as AFSD does, and a ``type`` that disagrees with the index is an error.
* ``{subset}`` in either path is replaced by the subset asked for, so one configuration names both
  pairs (``thumos_annotations/{subset}_Annotation.csv`` with subsets ``val`` and ``test``).

``anet_annotations/`` (ActivityNet v1.3), written by AFSD's ``anet_data/gen_video_info.py``:

* ``video_info_train_val.json``: ``{"v_<id>": {"subset": "training" | "validation", "duration": s,
  "frame_num": n, "annotations": [{"start_frame", "end_frame", "label", "label_id"}], "fps": f}}``,
  frames of AFSD's resampled copy of the video (at most 768 frames, ``fps`` its rate), so
  ``start_frame / fps`` are the ActivityNet seconds; ``label_id`` is 1-based in ``action_name.txt``.
* ``action_name.txt``: the 200 class names, one a line, not sorted, without a final newline.

Decisions (ActivityNet): ``video_id`` is the key without its ``v_`` prefix (results and the official
ground truth are keyed by the bare id), ``meta["file_stem"]`` the key; videos in file order, segments
in annotation order; classes ``class_names`` if given (matched by ``label``), else
``action_name.txt`` beside the file (``label_id`` must be the label's line number); ``duration``
optional, ``frame_num`` kept in ``meta``. A segment with ``end < start`` is an error (AFSD's loader
skips ``end_frame <= start_frame``; zero-length segments are kept here, as the evaluator scores them).

Every malformed row or entry is an :class:`~vidaction.data.errors.AnnotationError` naming the file
and the line (CSV, text) or the video and field (JSON).
"""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vidaction.data.errors import AnnotationError
from vidaction.data.formats.activitynet import canonical_subset
from vidaction.data.formats.common import finite_number, load_json, parse_index, read_csv, read_lines
from vidaction.data.formats.thumos14 import AMBIGUOUS, THUMOS14_CLASSES, THUMOS14_UCF101_IDS
from vidaction.data.records import DetectionVideo

ANNOTATION_COLUMNS = ("video", "type", "type_idx", "start", "end", "startFrame", "endFrame")
VIDEO_INFO_COLUMNS = ("video", "fps", "sample_fps", "count", "sample_count")
CLASS_INDEX_FILE = "Class Index_Detection.txt"
ACTION_NAMES_FILE = "action_name.txt"
ANET_FILE_PREFIX = "v_"


@dataclass(frozen=True)
class VideoInfo:
    """One row of a ``*_video_info.csv``: frame rate, sampling rate, frame count, sampled frame count."""

    fps: float
    sample_fps: float
    count: float
    sample_count: int

    @property
    def duration(self) -> float:
        """Seconds: ``count / fps``."""
        return self.count / self.fps


def _number(path: Path, line: int, column: str, text: str) -> float:
    """A CSV field as ``float()`` reads it; finite."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise AnnotationError(path, line, f"{column} must be a finite number, got {text!r}")
    return value


def _index(path: Path, line: int, column: str, text: str) -> int:
    value = parse_index(text)
    if value is None:
        raise AnnotationError(path, line, f"{column} must be a non-negative integer, got {text!r}")
    return value


def _subset_path(path: str | Path, subset: str) -> Path:
    return Path(str(path).replace("{subset}", subset))


def read_class_index(path: str | Path) -> tuple[list[int], list[str]]:
    """``(UCF101 ids, class names)`` of a ``Class Index_Detection.txt`` (``id Name`` lines), in file order."""
    path = Path(path)
    ids, names = [], []
    for number, line in read_lines(path):
        fields = line.split(None, 1)
        class_id = parse_index(fields[0])
        if len(fields) != 2 or class_id is None:
            raise AnnotationError(path, number, f"expected 'class_id ClassName', got {line!r}")
        if class_id in ids or fields[1] in names:
            raise AnnotationError(path, number, f"class id {class_id} or name {fields[1]!r} listed twice")
        ids.append(class_id)
        names.append(fields[1])
    if not names:
        raise AnnotationError(path, 0, "no classes")
    return ids, names


def read_video_info(path: str | Path) -> dict[str, VideoInfo]:
    """The rows of a ``*_video_info.csv`` by video name, in file order."""
    path = Path(path)
    infos: dict[str, VideoInfo] = {}
    for line, row in read_csv(path, VIDEO_INFO_COLUMNS):
        video = row["video"]
        if video in infos:
            raise AnnotationError(path, line, f"video {video} listed twice")
        fps, sample_fps, count = (_number(path, line, c, row[c]) for c in ("fps", "sample_fps", "count"))
        if fps <= 0 or sample_fps <= 0 or count <= 0:
            raise AnnotationError(path, line, f"video {video}: fps, sample_fps and count must be positive, got "
                                              f"{row['fps']}, {row['sample_fps']}, {row['count']}")
        infos[video] = VideoInfo(fps, sample_fps, count, _index(path, line, "sample_count", row["sample_count"]))
    if not infos:
        raise AnnotationError(path, 0, "no videos")
    return infos


def _thumos_label(path: Path, line: int, row: dict[str, str], type_idx: int, class_ids: list[int] | None,
                  names: list[str]) -> int:
    """The class index of a row: by ``type_idx`` in the class index, or by ``type`` in ``names``."""
    if class_ids is None:
        if row["type"] not in names:
            close = difflib.get_close_matches(row["type"], names, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise AnnotationError(path, line, f"type {row['type']!r} is not one of the {len(names)} classes{hint}")
        return names.index(row["type"])
    if type_idx not in class_ids:
        raise AnnotationError(path, line, f"type_idx {type_idx} ({row['type']}) is not in the class index "
                                          f"{dict(zip(class_ids, names))}")
    label = class_ids.index(type_idx)
    if names[label] != row["type"]:
        raise AnnotationError(path, line, f"type {row['type']!r} disagrees with type_idx {type_idx}, which is "
                                          f"{names[label]!r} in the class index")
    return label


def read_afsd_thumos(annotations: str | Path, video_info: str | Path, subset: str = "",
                     class_names: list[str] | None = None) -> tuple[list[DetectionVideo], list[str]]:
    """The videos of an AFSD/GAF ``*_Annotation.csv`` + ``*_video_info.csv`` pair and the class list
    (module docstring); ``{subset}`` in the paths becomes ``subset``, which also names the records' subset."""
    annotations, video_info = _subset_path(annotations, subset), _subset_path(video_info, subset)
    infos = read_video_info(video_info)
    if class_names is not None:
        class_ids, names = None, list(class_names)
    elif (annotations.parent / CLASS_INDEX_FILE).is_file():
        class_ids, names = read_class_index(annotations.parent / CLASS_INDEX_FILE)
    else:
        class_ids, names = list(THUMOS14_UCF101_IDS), list(THUMOS14_CLASSES)
    if len(set(names)) != len(names):
        raise ValueError(f"class names must be unique, got {names}")
    segments: dict[str, list[tuple[float, float, int]]] = {}
    ambiguous: dict[str, list[tuple[float, float]]] = {}
    for line, row in read_csv(annotations, ANNOTATION_COLUMNS):
        video = row["video"]
        start, end = (_number(annotations, line, c, row[c]) for c in ("start", "end"))
        if start < 0 or end < start:
            raise AnnotationError(annotations, line, f"video {video}: segment [{start}, {end}] needs 0 <= start <= end")
        type_idx, _, _ = (_index(annotations, line, c, row[c]) for c in ("type_idx", "startFrame", "endFrame"))
        if row["type"] == AMBIGUOUS:
            ambiguous.setdefault(video, []).append((start, end))
            continue
        if video not in infos:
            raise AnnotationError(annotations, line, f"video {video} is not in {video_info}")
        label = _thumos_label(annotations, line, row, type_idx, class_ids, names)
        segments.setdefault(video, []).append((start, end, label))
    name = canonical_subset(subset) if subset else ""
    videos = []
    for video in sorted(infos):
        info, instances = infos[video], sorted(segments.get(video, []))
        videos.append(DetectionVideo(
            video_id=video, segments=[(s, e) for s, e, _ in instances], labels=[c for _, _, c in instances],
            duration=info.duration, subset=name, ambiguous=sorted(ambiguous.get(video, [])), fps=info.fps,
            meta={"file_stem": video, "sample_fps": info.sample_fps, "count": info.count,
                  "sample_count": info.sample_count}))
    return videos, names


def read_action_names(path: str | Path) -> list[str]:
    """The class names of an ``action_name.txt``, one a line, in file order."""
    names = [line for _, line in read_lines(path)]
    if not names or len(set(names)) != len(names):
        raise AnnotationError(path, 0, "class names must be present and unique")
    return names


def _frame(path: Path, where: str, annotation: dict[str, Any], key: str, fps: float) -> float:
    value = annotation.get(key)
    if not finite_number(value):
        raise AnnotationError(path, 0, f"{where}.{key} must be a finite number of frames, got {value!r}")
    return float(value) / fps


def _anet_entry(path: Path, video: str, entry: Any) -> tuple[float, float | None]:
    """Check a video entry's fields; ``(fps, duration)``."""
    where = f"[{video!r}]"
    if not isinstance(entry, dict) or not isinstance(entry.get("subset"), str) \
            or not isinstance(entry.get("annotations"), list):
        raise AnnotationError(path, 0, f"{where} must be an object with 'subset' (a string), 'fps' and "
                                       "'annotations' (a list)")
    fps, duration, frame_num = entry.get("fps"), entry.get("duration"), entry.get("frame_num", 0)
    if not finite_number(fps) or fps <= 0:
        raise AnnotationError(path, 0, f"{where}.fps must be a positive number, got {fps!r}")
    if duration is not None and (not finite_number(duration) or duration < 0):
        raise AnnotationError(path, 0, f"{where}.duration must be a number >= 0, got {duration!r}")
    if isinstance(frame_num, bool) or not isinstance(frame_num, int) or frame_num < 0:
        raise AnnotationError(path, 0, f"{where}.frame_num must be an integer >= 0, got {frame_num!r}")
    return float(fps), None if duration is None else float(duration)


def read_afsd_anet(path: str | Path, subset: str, class_names: list[str] | None = None
                   ) -> tuple[list[DetectionVideo], list[str]]:
    """The videos of ``subset`` in AFSD's ``video_info_train_val.json`` and the class list (module docstring)."""
    path = Path(path)
    data = load_json(path)
    if not isinstance(data, dict) or "database" in data:
        raise AnnotationError(path, 0, "not AFSD's video info: expected {'v_<id>': {'subset', 'duration', "
                                       "'frame_num', 'annotations', 'fps'}}")
    from_file = class_names is None
    if from_file:
        names_path = path.parent / ACTION_NAMES_FILE
        if not names_path.is_file():
            raise AnnotationError(path, 0, f"no {ACTION_NAMES_FILE} beside the file and no class list given")
        class_names = read_action_names(names_path)
    names = list(class_names)
    if len(set(names)) != len(names):
        raise ValueError(f"class names must be unique, got {names}")
    index = {name: i for i, name in enumerate(names)}
    wanted, videos, seen = canonical_subset(subset), [], {}
    for key, entry in data.items():
        fps, duration = _anet_entry(path, key, entry)
        found = canonical_subset(entry["subset"])
        seen[found] = seen.get(found, 0) + 1
        if found != wanted:
            continue
        segments, labels = [], []
        for i, annotation in enumerate(entry["annotations"]):
            where = f"[{key!r}].annotations[{i}]"
            if not isinstance(annotation, dict) or not isinstance(annotation.get("label"), str) \
                    or annotation["label"] not in index:
                label = annotation.get("label") if isinstance(annotation, dict) else annotation
                raise AnnotationError(path, 0, f"{where}.label {label!r} is not one of the {len(names)} classes")
            start, end = (_frame(path, where, annotation, k, fps) for k in ("start_frame", "end_frame"))
            if start < 0 or end < start:
                raise AnnotationError(path, 0, f"{where}: frames [{annotation['start_frame']}, "
                                               f"{annotation['end_frame']}] need 0 <= start_frame <= end_frame")
            label = index[annotation["label"]]
            if from_file and annotation.get("label_id") != label + 1:
                raise AnnotationError(path, 0, f"{where}.label_id {annotation.get('label_id')!r}: "
                                               f"{annotation['label']!r} is line {label + 1} of {ACTION_NAMES_FILE}")
            segments.append((start, end))
            labels.append(label)
        bare = key[len(ANET_FILE_PREFIX):] if key.startswith(ANET_FILE_PREFIX) else key
        videos.append(DetectionVideo(video_id=bare, segments=segments, labels=labels, duration=duration,
                                     subset=wanted, fps=fps,
                                     meta={"file_stem": key, "frame_num": entry.get("frame_num")}))
    if not videos:
        raise AnnotationError(path, 0, f"no videos of subset {subset!r}; subsets in the file: {seen}")
    return videos, names
