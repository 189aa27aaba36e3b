"""Detection mAP: the vectorised evaluator against a straightforward per-class Python loop, side by side.

The loop below follows the official ActivityNet ``compute_average_precision_detection`` step by step
(without pandas, which would only make it slower): per class, predictions ranked by
``np.argsort(score)[::-1]``, each matched in a Python loop over thresholds and ground truth ranked by
tIoU. Both run on the same synthetic set (default 1,000 videos x 200 predictions, 20 classes, a
THUMOS-like 1-19 instances of 1-2 classes per video, half of the predictions jittered copies of
ground truth, scores rounded to 3 decimals so that ties occur), interleaved, and must agree.

Run: python benchmarks/detection_map.py [--videos 1000] [--per-video 200] [--thresholds anet|thumos]
     [--repeats 3] [--rounds 2]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import numpy as np
import torch

from vidaction.data.records import DetectionVideo
from vidaction.evaluation.detection_map import ANET_TIOU_THRESHOLDS, THUMOS14_TIOU_THRESHOLDS, segment_iou
from vidaction.evaluation.detection_results import Detections, evaluate_detection


def synthetic_set(num_videos: int, per_video: int, num_classes: int, seed: int = 0
                  ) -> tuple[list[DetectionVideo], Detections]:
    rng = np.random.default_rng(seed)
    videos, parts = [], []
    for v in range(num_videos):
        classes = rng.choice(num_classes, size=int(rng.integers(1, 3)), replace=False)
        n = int(rng.integers(1, 20))
        start = rng.uniform(0, 200, n)
        gt = np.stack([start, start + rng.uniform(1, 10, n)], axis=1)
        labels = rng.choice(classes, n)
        videos.append(DetectionVideo(f"video_{v:05d}", gt, labels, duration=215.0))
        copy = rng.random(per_video) < 0.5
        source = rng.integers(0, n, per_video)
        jitter = rng.normal(0, 1.0, (per_video, 2))
        free_start = rng.uniform(0, 200, per_video)
        free = np.stack([free_start, free_start + rng.uniform(0.5, 12, per_video)], axis=1)
        segments = np.where(copy[:, None], gt[source] + jitter, free)
        segments[:, 1] = np.maximum(segments[:, 1], segments[:, 0])
        other = np.where(rng.random(per_video) < 0.7, rng.choice(classes, per_video),
                         rng.integers(0, num_classes, per_video))
        pred_labels = np.where(copy, labels[source], other)
        parts.append(Detections.for_video(f"video_{v:05d}", segments, np.round(rng.random(per_video), 3), pred_labels))
    return videos, Detections.concatenate(parts)


def loop_map(ground_truth: list[DetectionVideo], predictions: Detections, num_classes: int,
             thresholds: np.ndarray) -> np.ndarray:
    """Per-class AP ``(T, C)`` with Python loops, as the official code (NaN for classes without ground truth)."""
    ap = np.full((len(thresholds), num_classes), np.nan)
    video_ids = predictions.video_ids.tolist()
    for c in range(num_classes):
        gt_by_video: dict[str, list[tuple[int, np.ndarray]]] = {}
        npos = 0
        for video in ground_truth:
            for segment, label in zip(video.segments, video.labels):
                if label == c:
                    gt_by_video.setdefault(video.video_id, []).append((npos, segment))
                    npos += 1
        if npos == 0:
            continue
        idx = np.flatnonzero(predictions.labels == c)
        ranked = idx[np.argsort(predictions.scores[idx])[::-1]]
        locked = np.zeros((len(thresholds), npos), dtype=bool)
        tp = np.zeros((len(thresholds), len(ranked)))
        fp = np.zeros((len(thresholds), len(ranked)))
        for rank, i in enumerate(ranked):
            candidates = gt_by_video.get(video_ids[i])
            if candidates is None:
                fp[:, rank] = 1
                continue
            tiou = segment_iou(predictions.segments[i], np.array([s for _, s in candidates]))
            order = tiou.argsort()[::-1]
            for t, threshold in enumerate(thresholds):
                for j in order:
                    if tiou[j] < threshold:
                        break
                    if locked[t, candidates[j][0]]:
                        continue
                    tp[t, rank] = 1
                    locked[t, candidates[j][0]] = True
                    break
                if tp[t, rank] == 0:
                    fp[t, rank] = 1
        tp_sum, fp_sum = np.cumsum(tp, axis=1), np.cumsum(fp, axis=1)
        for t in range(len(thresholds)):
            precision = [0.0, *(tp_sum[t] / (tp_sum[t] + fp_sum[t])), 0.0]
            recall = [0.0, *(tp_sum[t] / npos), 1.0]
            for k in range(len(precision) - 2, -1, -1):
                precision[k] = max(precision[k], precision[k + 1])
            ap[t, c] = sum((recall[k] - recall[k - 1]) * precision[k] for k in range(1, len(recall))
                           if recall[k] != recall[k - 1])
    return ap


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--videos", type=int, default=1000)
    parser.add_argument("--per-video", type=int, default=200)
    parser.add_argument("--classes", type=int, default=20)
    parser.add_argument("--thresholds", choices=["anet", "thumos"], default="anet")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of the vectorised evaluator per round")
    parser.add_argument("--rounds", type=int, default=2, help="interleaved rounds; the loop runs once per round")
    args = parser.parse_args()
    thresholds = np.array(ANET_TIOU_THRESHOLDS if args.thresholds == "anet" else THUMOS14_TIOU_THRESHOLDS)
    ground_truth, predictions = synthetic_set(args.videos, args.per_video, args.classes)
    names = [f"class {c}" for c in range(args.classes)]
    fast_times, loop_times = [], []
    for _ in range(args.rounds):
        for _ in range(args.repeats):
            start = time.perf_counter()
            metrics = evaluate_detection(ground_truth, predictions, names, thresholds)
            fast_times.append(time.perf_counter() - start)
        start = time.perf_counter()
        reference = loop_map(ground_truth, predictions, args.classes, thresholds)
        loop_times.append(time.perf_counter() - start)
    scored = ~np.isnan(reference).all(axis=0)
    diff = float(np.abs(metrics.ap[:, scored] - reference[:, scored]).max())
    fast, loop = statistics.median(fast_times), statistics.median(loop_times)
    print(f"environment: python {platform.python_version()}, numpy {np.__version__}, torch {torch.__version__}, "
          f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores")
    print(f"{args.videos} videos x {args.per_video} predictions ({len(predictions)}), {args.classes} classes, "
          f"{sum(len(v.labels) for v in ground_truth)} ground-truth segments, {len(thresholds)} thresholds; "
          f"median of {len(fast_times)} (vectorised) and {len(loop_times)} (loop) runs")
    print("| implementation | time (s) | speed-up | average mAP |")
    print("|---|---|---|---|")
    print(f"| per-class Python loop | {loop:.2f} | 1.0 | {np.nanmean(reference, axis=1).mean():.6f} |")
    print(f"| vidaction evaluate_detection | {fast:.3f} | {loop / fast:.0f} | {metrics.average_map:.6f} |")
    print(f"max |AP difference| = {diff:.2e}")
    if diff > 1e-9:
        raise SystemExit("the two implementations disagree")


if __name__ == "__main__":
    main()
