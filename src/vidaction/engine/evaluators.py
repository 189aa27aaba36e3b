"""Evaluators: a validation pass's metrics, the key that picks ``best.pt`` and their reports.

Every evaluator has ``evaluate(net, loader, runtime, progress, during_training) -> dict``, ``key``
(the metric, without the ``val_`` prefix, that ``best.pt`` keeps the best of), ``maximize``,
``label`` (for the curves) and ``write_reports(out_dir)``.

- :class:`ClassificationEvaluator`: video-level ``top1``, ``top5``, ``mean_class_acc`` (fractions in
  [0, 1]) and ``loss``; per-head and action metrics for several heads; the confusion matrix.
- :class:`ObjectiveEvaluator`: the objective's mean loss and terms over every view (self-supervised
  stages); ``best.pt`` keeps the lowest loss.
- :class:`DetectionEvaluator`: the average mAP over ``tiou_thresholds`` (and each threshold's) of
  the decoded, soft-NMS-merged validation detections; during training each evaluation writes them
  to ``predictions.json`` (ActivityNet results format); ``per_class_ap.json`` at the end.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from vidaction.config import DetectionTestConfig
from vidaction.data.labels import head_sizes, split_heads
from vidaction.data.records import DetectionVideo
from vidaction.engine import distributed
from vidaction.engine.objectives.recognition import classification_loss
from vidaction.engine.prediction import predict_detections, predict_scores
from vidaction.engine.runtime import Runtime
from vidaction.evaluation.classification import (confusion_matrix, mean_class_accuracy, multihead_metrics,
                                                 topk_accuracy)
from vidaction.evaluation.detection_map import threshold_key
from vidaction.evaluation.detection_results import Detections, evaluate_detection, write_results_json


class ClassificationEvaluator:
    """Video-level classification metrics; the mean of the logits over a video's views is its score."""

    key, maximize, label = "top1", True, "top-1"

    def __init__(self, class_names: Sequence[str]) -> None:
        self.class_names = list(class_names)
        self.head_sizes = head_sizes(self.class_names) if self.class_names else ()
        self.last_confusion: np.ndarray | None = None

    def evaluate(self, net, loader, runtime: Runtime, progress: bool = False,
                 during_training: bool = False) -> dict[str, Any]:
        scores, labels, _, bad = predict_scores(net, loader, runtime, len(self.class_names),
                                                max(len(self.head_sizes), 1), progress)
        loss = classification_loss(scores, labels, self.head_sizes).item() if len(labels) else float("nan")
        if len(self.head_sizes) > 1:
            heads = [(name, len(names)) for name, names in split_heads(self.class_names)]
            return {**multihead_metrics(scores, labels, heads), "loss": loss, "num_videos": int(len(labels)),
                    "bad_videos": len(bad)}
        num_classes = scores.shape[1]
        top1, top5 = topk_accuracy(scores, labels, ks=(1, min(5, num_classes)))
        self.last_confusion = confusion_matrix(scores.argmax(1), labels, num_classes)
        return {"top1": top1, "top5": top5, "mean_class_acc": mean_class_accuracy(scores, labels, num_classes),
                "loss": loss, "num_videos": int(len(labels)), "bad_videos": len(bad)}

    def write_reports(self, out_dir: Path) -> None:
        from vidaction.viz.confusion import plot_confusion_matrix

        if self.last_confusion is not None:
            (out_dir / "confusion.json").write_text(json.dumps(self.last_confusion.tolist()))
            plot_confusion_matrix(self.last_confusion, self.class_names, out_dir / "confusion.png")


class ObjectiveEvaluator:
    """The objective's mean loss and terms over every view of the loader; lower is better."""

    key, maximize, label = "loss", False, "loss"

    def __init__(self, objective) -> None:
        self.objective = objective

    @torch.no_grad()
    def evaluate(self, net, loader, runtime: Runtime, progress: bool = False,
                 during_training: bool = False) -> dict[str, Any]:
        net.eval()
        sums: dict[str, float] = {}
        count, bad = 0, []
        for batch in tqdm(loader, desc="eval", leave=False, disable=not progress, dynamic_ncols=True):
            bad.extend(batch["bad"])
            if batch["clip"] is None:
                continue
            clip, labels = batch["clip"], batch["label"]
            if clip.dim() == 6:
                labels = labels.repeat_interleave(clip.shape[1], dim=0)
                clip = clip.flatten(0, 1)
            with runtime.autocast():
                loss, _, terms = self.objective.loss(net, runtime.clip_to_device(clip), labels.to(runtime.device))
            n = len(clip)
            for key, value in {"loss": loss, **terms}.items():
                sums[key] = sums.get(key, 0.0) + value.item() * n
            count += n
        keys = sorted(sums)
        totals = torch.tensor([sums[k] for k in keys] + [count, len(bad)], dtype=torch.float64)
        totals = distributed.all_reduce_sum(totals.to(runtime.device)).cpu().tolist()
        count = max(totals[-2], 1)
        return {**{k: v / count for k, v in zip(keys, totals)}, "num_views": int(totals[-2]),
                "bad_videos": int(totals[-1])}

    def write_reports(self, out_dir: Path) -> None:
        """Nothing beyond the curves."""


def detection_metrics(ground_truth: Sequence[DetectionVideo], detections: Detections, class_names: Sequence[str],
                      tiou_thresholds: Sequence[float]) -> dict[str, Any]:
    """``{"mAP@<t>": ..., "average_mAP": ..., "num_detections": ...}`` (fractions) and the per-class APs."""
    metrics = evaluate_detection(ground_truth, detections, class_names, tiou_thresholds)
    values = {f"mAP@{threshold_key(t)}": float(m) for t, m in zip(metrics.tiou_thresholds, metrics.map_per_threshold)}
    return {**values, "average_mAP": float(metrics.average_map), "num_detections": len(detections),
            "num_videos": len(ground_truth),
            "per_class_ap": {name: [None if np.isnan(a) else float(a) for a in metrics.ap[:, c]]
                             for c, name in enumerate(metrics.class_names)}}


class DetectionEvaluator:
    """The average mAP of the validation windows' detections against ``ground_truth``."""

    key, maximize, label = "average_mAP", True, "average mAP"

    def __init__(self, ground_truth: Sequence[DetectionVideo], class_names: Sequence[str],
                 test_cfg: DetectionTestConfig, tiou_thresholds: Sequence[float],
                 durations: dict[str, float] | None = None, predictions_path: Path | None = None) -> None:
        self.ground_truth, self.class_names = list(ground_truth), list(class_names)
        self.test_cfg = test_cfg
        self.tiou_thresholds = [float(t) for t in tiou_thresholds]
        self.durations = durations
        self.predictions_path = predictions_path
        self.last_per_class_ap: dict[str, list] = {}

    def evaluate(self, net, loader, runtime: Runtime, progress: bool = False,
                 during_training: bool = False) -> dict[str, Any]:
        detections, bad = predict_detections([net], [loader], self.test_cfg, runtime.device, self.durations,
                                             runtime.use_amp, progress)
        metrics = detection_metrics(self.ground_truth, detections, self.class_names, self.tiou_thresholds)
        self.last_per_class_ap = metrics.pop("per_class_ap")
        if during_training and self.predictions_path is not None and runtime.main:
            write_results_json(self.predictions_path, detections, self.class_names)
        return {**metrics, "bad_windows": len(bad)}

    def write_reports(self, out_dir: Path) -> None:
        (out_dir / "per_class_ap.json").write_text(json.dumps(
            {"tiou_thresholds": self.tiou_thresholds, "ap": self.last_per_class_ap}, indent=1))
