"""THUMOS14 temporal action detection annotations (Jiang et al., THUMOS Challenge 2014).

Two forms are read:

* The official annotation folders (``TH14_Temporal_annotations_validation/annotation`` and
  ``TH14_Temporal_Annotations_Test/annotations/annotation``): one file per class and subset,
  ``<Class>_val.txt`` / ``<Class>_test.txt``, one instance per line, ``video_name start end``
  (seconds, whitespace-separated), plus ``Ambiguous_val.txt`` / ``Ambiguous_test.txt`` listing
  regions where the action is unclear. Those are kept as ``DetectionVideo.ambiguous`` and never as
  segments; they are excluded from scoring only when the evaluator is asked to (``ambiguous="ignore"``,
  the rule of the official Matlab ``TH14evalDet``; see :mod:`vidaction.evaluation.detection_map`). A
  missing ``Ambiguous`` file means no ambiguous regions; a missing class file is an error.
* The ActivityNet-style JSON conversion used by ActionFormer and OpenTAD (``thumos14.json``):
  ``database`` -> video -> ``subset`` (``validation``/``test``, any case), ``duration``, ``fps``,
  ``annotations`` ``[{"segment": [s, e], "label": name, "label_id": i}]``; read with
  :func:`vidaction.data.formats.activitynet.read_anet_style_json`, an ``Ambiguous`` label (if a
  conversion keeps one) becoming ambiguous regions.

Decisions:

* Classes: the 20 detection classes in the official class-index order (``detclasslist.txt`` of the
  evaluation kit, UCF101 ids 7 ... 97), which is also alphabetical and ActionFormer's ``label_id``
  order (its CliffDiving is id 4, Diving 7). A folder holding a ``detclasslist.txt`` uses that
  file's order; a folder whose class files are not the 20 official ones (e.g. a synthetic set in the
  same layout) uses its classes sorted by name. ``class_names`` overrides both.
* Subsets: ``val``/``validation`` and ``test``/``testing`` (any case); ``DetectionVideo.subset`` is
  ``validation`` or ``testing``.
* Videos come sorted by name, a video's segments sorted by (start, end, class), so a folder always
  gives the same records. The per-class files state no duration: ``duration`` is ``None``.
  Segments are kept as annotated (a few end after their video, see the dataset notes of OpenTAD /
  mmaction); every CliffDiving instance is also annotated as Diving, and both are kept.
* A line that is not ``name start end`` with finite times and ``0 <= start <= end`` is an
  ``AnnotationError`` naming the file and line.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

from vidaction.data.errors import AnnotationError
from vidaction.data.formats.activitynet import canonical_subset, read_anet_style_json
from vidaction.data.formats.common import read_lines
from vidaction.data.records import DetectionVideo

THUMOS14_CLASSES = ["BaseballPitch", "BasketballDunk", "Billiards", "CleanAndJerk", "CliffDiving", "CricketBowling",
                    "CricketShot", "Diving", "FrisbeeCatch", "GolfSwing", "HammerThrow", "HighJump", "JavelinThrow",
                    "LongJump", "PoleVault", "Shotput", "SoccerPenalty", "TennisSwing", "ThrowDiscus",
                    "VolleyballSpiking"]
THUMOS14_UCF101_IDS = [7, 9, 12, 21, 22, 23, 24, 26, 31, 33, 36, 40, 45, 51, 68, 79, 85, 92, 93, 97]
"""The class ids of the official ``detclasslist.txt`` (UCF101 numbering), in ``THUMOS14_CLASSES`` order."""
AMBIGUOUS = "Ambiguous"
FILE_SUFFIX = {"validation": "val", "testing": "test"}
CLASS_LIST_FILE = "detclasslist.txt"


def thumos14_subset(subset: str) -> str:
    """``"val"`` -> ``"validation"``, ``"test"`` -> ``"testing"``; THUMOS14 has no other detection subset."""
    name = canonical_subset(subset)
    if name not in FILE_SUFFIX:
        raise ValueError(f"THUMOS14 detection subsets are 'val'/'validation' and 'test'/'testing', got {subset!r}")
    return name


def _read_instances(path: Path) -> list[tuple[str, float, float]]:
    instances = []
    for number, line in read_lines(path):
        fields = line.split()
        if len(fields) != 3:
            raise AnnotationError(path, number, f"expected 'video_name start end', got {line!r}")
        try:
            start, end = float(fields[1]), float(fields[2])
        except ValueError as exc:
            raise AnnotationError(path, number, f"start and end must be seconds, got {line!r}") from exc
        if not (math.isfinite(start) and math.isfinite(end)) or start < 0 or end < start:
            raise AnnotationError(path, number, f"video {fields[0]}: segment [{start}, {end}] needs "
                                  "0 <= start <= end")
        instances.append((fields[0], start, end))
    return instances


def _folder_classes(folder: Path, suffix: str) -> list[str]:
    class_list = folder / CLASS_LIST_FILE
    if class_list.is_file():
        names = []
        for number, line in read_lines(class_list):
            fields = line.split()
            if len(fields) != 2 or not fields[0].isdigit():
                raise AnnotationError(class_list, number, f"expected 'class_id ClassName', got {line!r}")
            if fields[1] in names:
                raise AnnotationError(class_list, number, f"class {fields[1]!r} listed twice")
            if not fields[1].isprintable() or "/" in fields[1] or len(fields[1].encode()) > 200:
                raise AnnotationError(class_list, number, f"class name {fields[1]!r} cannot name a "
                                      f"'<Class>_{suffix}.txt' file")
            names.append(fields[1])
        return names
    pattern = re.compile(rf"(.+)_{suffix}\.txt")
    found = {m.group(1) for p in folder.iterdir() if (m := pattern.fullmatch(p.name)) and p.is_file()} - {AMBIGUOUS}
    if not found:
        raise AnnotationError(folder, 0, f"no '<Class>_{suffix}.txt' annotation files")
    return list(THUMOS14_CLASSES) if found == set(THUMOS14_CLASSES) else sorted(found)


def read_thumos14_folder(folder: str | Path, subset: str, class_names: list[str] | None = None
                         ) -> tuple[list[DetectionVideo], list[str]]:
    """Videos of ``subset`` in an official THUMOS14 annotation folder and the class list.

    A video listed only in the ``Ambiguous`` file (``video_test_0001292``) is a record without
    segments, so its detections still count as false positives.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise AnnotationError(folder, 0, "THUMOS14 annotation folder not found")
    name = thumos14_subset(subset)
    suffix = FILE_SUFFIX[name]
    names = list(class_names) if class_names is not None else _folder_classes(folder, suffix)
    if len(set(names)) != len(names):
        raise ValueError(f"class names must be unique, got {names}")
    segments: dict[str, list[tuple[float, float, int]]] = {}
    ambiguous: dict[str, list[tuple[float, float]]] = {}
    for label, class_name in enumerate(names):
        path = folder / f"{class_name}_{suffix}.txt"
        if not path.is_file():
            raise AnnotationError(path, 0, f"annotation file of class {class_name!r} not found")
        for video, start, end in _read_instances(path):
            segments.setdefault(video, []).append((start, end, label))
    ambiguous_path = folder / f"{AMBIGUOUS}_{suffix}.txt"
    if ambiguous_path.is_file():
        for video, start, end in _read_instances(ambiguous_path):
            ambiguous.setdefault(video, []).append((start, end))
    videos = []
    for video in sorted(set(segments) | set(ambiguous)):
        instances = sorted(segments.get(video, []))
        videos.append(DetectionVideo(video_id=video, segments=[(s, e) for s, e, _ in instances],
                                     labels=[label for _, _, label in instances], subset=name,
                                     ambiguous=sorted(ambiguous.get(video, [])), meta={"file_stem": video}))
    if not videos:
        raise AnnotationError(folder, 0, f"no annotated videos in the '*_{suffix}.txt' files")
    return videos, names


def read_thumos14_json(path: str | Path, subset: str, class_names: list[str] | None = None
                       ) -> tuple[list[DetectionVideo], list[str]]:
    """Videos of ``subset`` in the ActivityNet-style THUMOS14 JSON (ActionFormer/OpenTAD) and the
    class list (the 20 official classes in index order unless ``class_names`` is given). Any subset
    the file holds is read: AFSD's and GAF's ``thumos_gt.json`` calls the validation videos ``"train"``."""
    return read_anet_style_json(path, subset, class_names=class_names, default_classes=list(THUMOS14_CLASSES),
                                ambiguous_label=AMBIGUOUS)


def read_thumos14(path: str | Path, subset: str, class_names: list[str] | None = None
                  ) -> tuple[list[DetectionVideo], list[str]]:
    """THUMOS14 ground truth from an annotation folder or the ActivityNet-style JSON."""
    if Path(path).is_dir():
        return read_thumos14_folder(path, subset, class_names)
    return read_thumos14_json(path, subset, class_names)
