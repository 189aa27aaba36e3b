"""One entry point for temporal-detection ground truth: THUMOS14 folders and ActivityNet-style JSON.

``detection_format(path)`` decides the format: a folder is a THUMOS14 annotation folder
(``<Class>_val.txt`` / ``<Class>_test.txt``); a JSON file with a ``database`` is the THUMOS14
conversion when every label in it is one of the 20 THUMOS14 classes (or ``Ambiguous``), and
ActivityNet otherwise (v1.3 or any dataset in its layout). The format fixes the default class list
(THUMOS14's official order, or the sorted labels of the file) and, in ``vidaction eval-detection``,
the default tIoU thresholds. ``annotation_format`` names AFSD's and GAF's files instead
(:mod:`vidaction.data.formats.afsd`): ``afsd_thumos`` (THUMOS14) and ``afsd_anet`` (ActivityNet).
"""

from __future__ import annotations

from pathlib import Path

from vidaction.data.errors import AnnotationError
from vidaction.data.formats.activitynet import read_activitynet
from vidaction.data.formats.afsd import read_afsd_anet, read_afsd_thumos
from vidaction.data.formats.common import load_json, read_lines
from vidaction.data.formats.thumos14 import AMBIGUOUS, THUMOS14_CLASSES, read_thumos14_folder, read_thumos14_json
from vidaction.data.records import DetectionVideo

DETECTION_FORMATS = ("thumos14", "activitynet")
AFSD_FORMATS = {"afsd_thumos": "thumos14", "afsd_anet": "activitynet"}
ANNOTATION_FORMATS = ("auto", *AFSD_FORMATS)


def detection_format(path: str | Path, annotation_format: str = "auto") -> str:
    """``"thumos14"`` or ``"activitynet"`` for a ground-truth folder or JSON file (or AFSD's files)."""
    if annotation_format in AFSD_FORMATS:
        return AFSD_FORMATS[annotation_format]
    path = Path(path)
    if path.is_dir():
        return "thumos14"
    if path.suffix.lower() == ".csv":
        raise AnnotationError(path, 0, "a CSV file: AFSD's and GAF's *_Annotation.csv are read with "
                              "data.annotation_format=afsd_thumos and data.video_info (eval-detection: "
                              "--annotation-format afsd_thumos --video-info), or score against their thumos_gt.json")
    data = load_json(path)
    if not isinstance(data, dict) or not isinstance(data.get("database"), dict):
        raise AnnotationError(path, 0, "neither a THUMOS14 annotation folder nor an ActivityNet-style JSON "
                              "with a 'database' object (AFSD's video_info_train_val.json: "
                              "data.annotation_format=afsd_anet)")
    labels = {a["label"] for v in data["database"].values() if isinstance(v, dict)
              and isinstance(v.get("annotations"), list) for a in v["annotations"]
              if isinstance(a, dict) and isinstance(a.get("label"), str)}
    known = set(THUMOS14_CLASSES) | {AMBIGUOUS}
    return "thumos14" if labels and labels <= known else "activitynet"


def read_detection_annotations(path: str | Path, subset: str, class_names: list[str] | None = None,
                               annotation_format: str = "auto", video_info: str | Path = ""
                               ) -> tuple[list[DetectionVideo], list[str]]:
    """Ground-truth videos of ``subset`` and the class list, whichever format ``path`` is in;
    ``video_info`` is the ``*_video_info.csv`` of ``annotation_format="afsd_thumos"``."""
    if annotation_format not in ANNOTATION_FORMATS:
        raise ValueError(f"annotation_format must be one of {list(ANNOTATION_FORMATS)}, got {annotation_format!r}")
    if annotation_format == "afsd_thumos":
        return read_afsd_thumos(path, video_info, subset, class_names)
    if annotation_format == "afsd_anet":
        return read_afsd_anet(path, subset, class_names)
    if detection_format(path) == "activitynet":
        return read_activitynet(path, subset, class_names)
    if Path(path).is_dir():
        return read_thumos14_folder(path, subset, class_names)
    return read_thumos14_json(path, subset, class_names)


def read_class_list(path: str | Path) -> list[str]:
    """Class names, one per line (a run's ``classes.txt``); names may contain spaces."""
    names = [line for _, line in read_lines(path)]
    if len(set(names)) != len(names):
        raise AnnotationError(path, 0, "class names are not unique")
    if not names:
        raise AnnotationError(path, 0, "no class names")
    return names
