"""Detection results and ground truth for the mAP of :mod:`vidaction.evaluation.detection_map`:
:class:`Detections` (a results file in memory), ActivityNet results JSON
(:func:`read_results_json`, :func:`write_results_json`), and :func:`evaluate_detection`, which checks
and converts ``DetectionVideo`` ground truth and ``Detections`` into the metric's arrays.

Results files are the ActivityNet challenge format that the official ``Evaluation/eval_detection.py``
reads: ``{"version", "results": {video_id: [{"label", "score", "segment": [start, end]}]},
"external_data"}``. The order of a file matters only for tied scores (see
:mod:`vidaction.evaluation.detection_map`).

Bad input -- what the official ``eval_detection.py`` does, and what happens here:

* results JSON without ``results``: ``IOError('Please input a valid prediction file.')`` (it also
  insists on ``version`` and ``external_data``) -> ``AnnotationError`` naming the file and the
  missing field; ``version`` and ``external_data`` are optional.
* a label that is not a class name: ``KeyError`` without context -> ``AnnotationError`` naming the
  video, entry, label and the closest class name.
* a label of a class without ground truth in the subset: ``KeyError`` (the official class index
  comes from the subset's ground truth) -> accepted; the class is not scored (AP NaN, left out of
  the mean, as the official leaves it out).
* a segment with end < start: not checked, scored with a negative length -> ``AnnotationError``
  naming video, entry and ``segment`` (``ValueError`` from ``Detections``).
* a segment that is not two finite numbers: ``TypeError``/``IndexError`` or NaN tIoUs ->
  ``AnnotationError`` naming video, entry and field.
* a score that is not a number (string, null, bool): stored as is, so sorting fails or compares
  strings -> ``AnnotationError`` naming video, entry and ``score``; NaN and infinity too.
* a video id absent from the ground truth or from the evaluated subset: every detection on it is a
  false positive -> the same; ``DetectionMetrics.unknown_videos`` lists those videos and the CLI
  warns (with a hint when the ids differ by ActivityNet's ``v_`` prefix).
* a class without detections: AP 0 and a printed warning -> AP 0.
* blocked videos: fetched from the challenge server and removed -> not supported (no network);
  leave them out of the ground truth.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vidaction.data.errors import AnnotationError
from vidaction.data.formats.common import finite_number, load_json
from vidaction.data.records import DetectionVideo
from vidaction.evaluation.detection_map import (ANET_TIOU_THRESHOLDS, DetectionMetrics, average_precisions,
                                                check_thresholds, detection_arrays, overlaps_regions, video_indices)

AMBIGUOUS_MODES = ("count", "ignore")
RESULTS_VERSION = "VERSION 1.3"


@dataclass
class Detections:
    """Detections of many videos, flat and in results-file order.

    ``video_ids`` ``(N,)`` str, ``segments`` ``(N, 2)`` float64 ``[start, end]`` seconds with
    ``start <= end``, ``scores`` ``(N,)`` float64 (finite), ``labels`` ``(N,)`` int64 indices into the
    class list. The order matters only for tied scores, as in the official evaluator (see the module
    docstring); ``write_results_json`` groups by video, so evaluate the written file when ties must
    match an evaluation of that file.
    """

    video_ids: np.ndarray
    segments: np.ndarray
    scores: np.ndarray
    labels: np.ndarray

    def __post_init__(self) -> None:
        self.video_ids, self.segments, self.scores, self.labels = detection_arrays(
            self.video_ids, self.segments, self.scores, self.labels)

    def __len__(self) -> int:
        return len(self.video_ids)

    @classmethod
    def for_video(cls, video_id: str, segments: np.ndarray, scores: np.ndarray, labels: np.ndarray) -> Detections:
        """The detections of one video: ``segments`` ``(K, 2)``, ``scores`` ``(K,)``, ``labels`` ``(K,)``."""
        scores = np.asarray(scores).reshape(-1)
        return cls(np.full(len(scores), video_id, dtype=object), segments, scores, labels)

    @classmethod
    def concatenate(cls, parts: Sequence[Detections]) -> Detections:
        """One ``Detections`` of ``parts`` in order."""
        if not parts:
            return cls(np.zeros(0, dtype=str), np.zeros((0, 2)), np.zeros(0), np.zeros(0, dtype=np.int64))
        return cls(np.concatenate([p.video_ids for p in parts]), np.concatenate([p.segments for p in parts]),
                   np.concatenate([p.scores for p in parts]), np.concatenate([p.labels for p in parts]))


def evaluate_detection(ground_truth: Sequence[DetectionVideo], predictions: Detections, class_names: Sequence[str],
                       tiou_thresholds: Sequence[float] = ANET_TIOU_THRESHOLDS,
                       ambiguous: str = "count") -> DetectionMetrics:
    """Per-class AP, mAP per threshold and average mAP of ``predictions`` against ``ground_truth``.

    ``ground_truth`` is the evaluated subset (one record per video, ids unique; a record without
    segments is a video with no actions); ``predictions`` labels index ``class_names``.
    ``ambiguous="ignore"`` drops false positives that overlap a video's ambiguous regions
    (THUMOS14's TH14evalDet rule); ``"count"`` (default) scores them as the ActivityNet code does.
    """
    if ambiguous not in AMBIGUOUS_MODES:
        raise ValueError(f"ambiguous must be one of {AMBIGUOUS_MODES}, got {ambiguous!r}")
    thresholds = check_thresholds(tiou_thresholds)
    class_names = list(class_names)
    num_classes = len(class_names)
    if num_classes == 0 or len(set(class_names)) != num_classes:
        raise ValueError(f"class_names must be non-empty and unique, got {class_names}")
    video_index, gt_video, gt_label, gt_segments = ground_truth_arrays(ground_truth, num_classes)
    if (predictions.labels >= num_classes).any():
        i = int(np.flatnonzero(predictions.labels >= num_classes)[0])
        raise ValueError(f"video {str(predictions.video_ids[i])!r}, detection {i}: label {predictions.labels[i]} "
                         f"outside 0..{num_classes - 1}")
    pred_video = video_indices(predictions.video_ids, video_index)
    unknown = pred_video < 0
    unknown_videos = tuple(dict.fromkeys(predictions.video_ids[unknown].tolist()))
    ignorable = None
    if ambiguous == "ignore":
        ignorable = overlaps_regions(pred_video, predictions.segments, [v.ambiguous for v in ground_truth])
    ap, num_positives = average_precisions(gt_video, gt_label, gt_segments, pred_video, predictions.labels,
                                           predictions.segments, predictions.scores, len(ground_truth),
                                           num_classes, thresholds, ignorable)
    scored = num_positives > 0
    map_per_threshold = ap[:, scored].mean(axis=1)
    return DetectionMetrics(tiou_thresholds=thresholds, ap=ap, map_per_threshold=map_per_threshold,
                            average_map=float(map_per_threshold.mean()), class_names=class_names,
                            num_positives=num_positives, unknown_videos=unknown_videos)


def ground_truth_arrays(ground_truth: Sequence[DetectionVideo], num_classes: int
                        ) -> tuple[dict[str, int], np.ndarray, np.ndarray, np.ndarray]:
    """Checked ground truth in the official order (videos in list order, then annotation order):
    ``(video index {video_id: i}, video (G,), label (G,), segments (G, 2))``. ``ValueError`` for a
    video listed twice, no segment at all, a label outside ``0 .. num_classes - 1``, or a segment
    that is not finite with start <= end."""
    video_index = {video.video_id: i for i, video in enumerate(ground_truth)}
    if len(video_index) != len(ground_truth):
        twice = next(v.video_id for i, v in enumerate(ground_truth) if video_index[v.video_id] != i)
        raise ValueError(f"video {twice!r} appears twice in the ground truth")
    gt_video = np.repeat(np.arange(len(ground_truth)), [len(v.labels) for v in ground_truth])
    gt_label = np.concatenate([v.labels for v in ground_truth] + [np.zeros(0, dtype=np.int64)])
    gt_segments = np.concatenate([v.segments for v in ground_truth] + [np.zeros((0, 2))])
    if len(gt_label) == 0:
        raise ValueError("the ground truth has no segments to evaluate against")
    bad_label = (gt_label < 0) | (gt_label >= num_classes)
    if bad_label.any():
        i = int(np.flatnonzero(bad_label)[0])
        raise ValueError(f"video {ground_truth[gt_video[i]].video_id!r}: ground-truth label {gt_label[i]} outside "
                         f"0..{num_classes - 1}")
    bad_segment = ~np.isfinite(gt_segments).all(axis=1) | (gt_segments[:, 1] < gt_segments[:, 0])
    if bad_segment.any():
        i = int(np.flatnonzero(bad_segment)[0])
        raise ValueError(f"video {ground_truth[gt_video[i]].video_id!r}: ground-truth segment "
                         f"{gt_segments[i].tolist()} is not finite with start <= end")
    return video_index, gt_video, gt_label, gt_segments


def read_results_json(path: str | Path, class_names: Sequence[str]) -> Detections:
    """An ActivityNet results file ``{"version", "results": {video: [{"label", "score", "segment"}]},
    "external_data"}`` -> ``Detections`` in file order, labels indexing ``class_names``.

    Every malformed entry is an ``AnnotationError`` naming the file, video, entry index and field.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: results file not found")
    data = load_json(path)
    if not isinstance(data, dict) or "results" not in data:
        raise AnnotationError(path, 0, "no 'results' field: an ActivityNet results file is "
                              "{'version': ..., 'results': {video_id: [{'label', 'score', 'segment'}]}, "
                              "'external_data': {...}}")
    results = data["results"]
    if not isinstance(results, dict):
        raise AnnotationError(path, 0, f"'results' must map video ids to lists, got {type(results).__name__}")
    index = {name: i for i, name in enumerate(class_names)}
    video_ids, segments, scores, labels = [], [], [], []
    for video, entries in results.items():
        if not isinstance(entries, list):
            raise AnnotationError(path, 0, f"results[{video!r}] must be a list of detections, "
                                  f"got {type(entries).__name__}")
        for i, entry in enumerate(entries):
            where = f"results[{video!r}][{i}]"
            if not isinstance(entry, dict):
                raise AnnotationError(path, 0, f"{where} must be an object with label, score, segment")
            for key in ("label", "score", "segment"):
                if key not in entry:
                    raise AnnotationError(path, 0, f"{where} has no '{key}'")
            label, score, segment = entry["label"], entry["score"], entry["segment"]
            if not isinstance(label, str) or label not in index:
                close = difflib.get_close_matches(str(label), list(index), n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                raise AnnotationError(path, 0, f"{where}.label {label!r} is not one of the {len(index)} classes{hint}")
            if not finite_number(score):
                raise AnnotationError(path, 0, f"{where}.score must be a finite number, got {score!r}")
            if not isinstance(segment, list) or len(segment) != 2 or not all(map(finite_number, segment)):
                raise AnnotationError(path, 0, f"{where}.segment must be [start, end] seconds, got {segment!r}")
            if segment[1] < segment[0]:
                raise AnnotationError(path, 0, f"{where}.segment {segment}: end < start")
            video_ids.append(video)
            segments.append((float(segment[0]), float(segment[1])))
            scores.append(float(score))
            labels.append(index[label])
    return Detections(np.array(video_ids, dtype=str), np.array(segments, dtype=np.float64).reshape(-1, 2),
                      np.array(scores, dtype=np.float64), np.array(labels, dtype=np.int64))


def write_results_json(path: str | Path, predictions: Detections, class_names: Sequence[str],
                       version: str = RESULTS_VERSION, external_data: dict[str, Any] | None = None) -> Path:
    """Write ``predictions`` as an ActivityNet results file; videos in first-appearance order, each
    video's detections in their order. ``external_data`` defaults to ``{"used": False}``."""
    path = Path(path)
    if len(predictions) and int(predictions.labels.max()) >= len(class_names):
        raise ValueError(f"label {int(predictions.labels.max())} outside the {len(class_names)} class names")
    results: dict[str, list[dict[str, Any]]] = {}
    for video, (start, end), score, label in zip(predictions.video_ids.tolist(), predictions.segments.tolist(),
                                                 predictions.scores.tolist(), predictions.labels.tolist()):
        results.setdefault(video, []).append({"label": class_names[label], "score": score, "segment": [start, end]})
    document = {"version": version, "results": results,
                "external_data": external_data if external_data is not None else {"used": False}}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document), encoding="utf-8")
    return path
