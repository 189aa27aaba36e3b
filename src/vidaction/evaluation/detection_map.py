"""Temporal action detection mAP on arrays, numerically equal to the official ActivityNet evaluation.

The reference is the ActivityNet challenge toolkit, ``Evaluation/eval_detection.py``
(``ANETdetection``, ``compute_average_precision_detection``) and ``Evaluation/utils.py``
(``segment_iou``, ``interpolated_prec_rec``): GAF Sec. IV-A ("Evaluation Metrics": mAP at several
IoU thresholds, "calculated through the ActivityNet official codebase"), as ActionFormer, OpenTAD
and AFSD do for THUMOS14 and ActivityNet v1.3. This module takes arrays and returns numbers (as
ActionFormer's ``libs/utils/metrics.py`` keeps mAP apart from file reading); results files and the
conversion of ground-truth records are :mod:`vidaction.evaluation.detection_results`, whose
:func:`~vidaction.evaluation.detection_results.evaluate_detection` is the usual entry.
Per class, at every tIoU threshold:

1. The class's predictions, in results-file order (videos in file order, then list order), are
   ranked by ``np.argsort(scores)[::-1]`` with numpy's default sort kind, exactly the official call.
   Ties are therefore *not* broken by file order in a documented way: numpy's default kind is an
   unstable introsort (a SIMD sort on AVX-512/AVX2 builds), so among equal scores the order depends
   on the array, the numpy build and the CPU -- for the official code too. We make the same call on
   the same array, hence the same order on the same machine; to rank ties deterministically
   everywhere, break them in the scores before evaluating.
2. Greedy matching in that rank order: the prediction's tIoU with every ground-truth segment of its
   class in its video (``segment_iou``: ``inter / (len_gt + len_pred - inter)``, ``inter`` clipped at
   0) is ranked by ``argsort(tiou)[::-1]``; the first segment in that order with ``tiou < threshold``
   ends the search (false positive); a segment already matched at this threshold is skipped (the
   prediction falls through to the next-best segment, it is *not* a false positive because its best
   one is taken); the first unmatched segment with ``tiou >= threshold`` is its true positive. A
   prediction whose every candidate is taken, or whose video has no ground truth of the class, is a
   false positive.
3. ``precision = cumsum(tp) / (cumsum(tp) + cumsum(fp))``, ``recall = cumsum(tp) / npos`` (``npos``:
   ground-truth segments of the class), and the VOC 2011-style interpolated AP: precision padded
   with 0 at both ends and recall with 0 and 1, made monotone (each precision replaced by the maximum
   at higher recall), summed as ``sum((r_i - r_{i-1}) * p_i)`` over the points where recall changes.
   A class without predictions scores 0.
4. mAP: the mean over the classes that have ground truth in the evaluated set (the official class
   list is built from the ground truth of the subset, so a class without ground truth is not part of
   it); the average mAP is the mean over thresholds.

Degenerate cases, reproduced as the official code computes them: a prediction and a ground-truth
segment that both have zero length give ``tiou = 0 / 0 = NaN``; numpy sorts NaN last, so after the
reversal it is tried first, and ``NaN < threshold`` is false, so it matches at every threshold. A
zero-length prediction against a segment of positive length has tIoU 0. A tIoU exactly equal to the
threshold matches.

THUMOS14's ``Ambiguous`` regions (``DetectionVideo.ambiguous``; here :func:`overlaps_regions` and
``pred_ignorable``). The ActivityNet code knows no such regions, and the THUMOS14 JSON that
ActionFormer evaluates with it has no ``Ambiguous`` label (its loader asserts 20 labels): a
detection there is an ordinary false positive. That is the default, ``ambiguous="count"``, and with
no ambiguous regions both modes are identical. The official THUMOS14 Matlab kit (``TH14evalDet.m``,
function ``TH14eventdetpr``) removes from the false-positive list every detection of the class that
matched no ground truth and has a positive intersection with an ``Ambiguous`` interval of its
video; it counts neither as true nor as false positive. ``ambiguous="ignore"`` applies that rule, per threshold, on top of the
ActivityNet matching and AP above. The rest of TH14evalDet is not reproduced: its matching is driven
by the ground truth (each segment, in file order, takes the free detection of highest overlap), it
requires ``overlap > threshold`` (strict), and its AP is the non-interpolated
``sum(precision at each true positive) / npos``.

The computation is vectorised. Matching is sequential only within one (class, video) pair, so all
pairs advance together, one detection each per step; only (detection, segment) pairs whose tIoU
reaches the lowest threshold (or is NaN) take part, so the number of steps is the largest number of
such detections of one class in one video. The tIoU order of a detection's segments comes from the
official ``argsort`` call on the full row, computed only where two or more segments are candidates.
The AP uses the fact that precision rises only at true positives (see ``_interpolated_ap``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

ANET_TIOU_THRESHOLDS: tuple[float, ...] = tuple(float(t) for t in np.linspace(0.5, 0.95, 10))
"""ActivityNet's ``np.linspace(0.5, 0.95, 10)`` (the official default)."""
THUMOS14_TIOU_THRESHOLDS: tuple[float, ...] = tuple(float(t) for t in np.linspace(0.3, 0.7, 5))
"""THUMOS14's ``np.linspace(0.3, 0.7, 5)`` as ActionFormer and OpenTAD report it."""


def _iou(pred_start, pred_end, gt_start, gt_end) -> np.ndarray:
    """Broadcast tIoU with the official operation order, so results are bit-identical to it."""
    intersection = (np.minimum(pred_end, gt_end) - np.maximum(pred_start, gt_start)).clip(0)
    union = (gt_end - gt_start) + (pred_end - pred_start) - intersection
    with np.errstate(invalid="ignore", divide="ignore"):
        return intersection / union


def segment_iou(segment: np.ndarray | Sequence[float], candidates: np.ndarray) -> np.ndarray:
    """tIoU of one ``[start, end]`` segment ``(2,)`` with ``candidates`` ``(N, 2)`` -> ``(N,)``.

    As the official ``utils.segment_iou``: NaN where both have zero length (``0 / 0``).
    """
    segment = np.asarray(segment, dtype=np.float64).reshape(2)
    candidates = np.asarray(candidates, dtype=np.float64).reshape(-1, 2)
    return _iou(segment[0], segment[1], candidates[:, 0], candidates[:, 1])


def pairwise_segment_iou(segments: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """tIoU of every row of ``segments`` ``(N, 2)`` with every row of ``candidates`` ``(M, 2)`` -> ``(N, M)``.

    Row ``i`` equals ``segment_iou(segments[i], candidates)`` bit for bit.
    """
    a = np.asarray(segments, dtype=np.float64).reshape(-1, 2)
    b = np.asarray(candidates, dtype=np.float64).reshape(-1, 2)
    return _iou(a[:, :1], a[:, 1:], b[None, :, 0], b[None, :, 1])


def detection_arrays(video_ids: Any, segments: Any, scores: Any, labels: Any
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Detections as the metric takes them: ``video_ids`` ``(N,)`` str, ``segments`` ``(N, 2)``
    float64 ``[start, end]`` with ``start <= end``, ``scores`` ``(N,)`` float64, ``labels`` ``(N,)``
    int64 >= 0; raises ``ValueError`` naming the video and detection of the first bad entry."""
    video_ids = np.asarray(video_ids, dtype=str).reshape(-1)
    segments = np.asarray(segments, dtype=np.float64).reshape(-1, 2)
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    labels = np.asarray(labels, dtype=np.int64).reshape(-1)
    n = len(video_ids)
    if not len(segments) == len(scores) == len(labels) == n:
        raise ValueError(f"detections: {n} video ids, {len(segments)} segments, {len(scores)} scores "
                         f"and {len(labels)} labels; all must have one entry per detection")

    def fail(mask: np.ndarray, what: str) -> None:
        i = int(np.flatnonzero(mask)[0])
        raise ValueError(f"video {str(video_ids[i])!r}, detection {i}: {what} "
                         f"(segment {segments[i].tolist()}, score {scores[i]})")

    finite = np.isfinite(segments).all(axis=1)
    if not finite.all():
        fail(~finite, "segment is not finite")
    if (segments[:, 1] < segments[:, 0]).any():
        fail(segments[:, 1] < segments[:, 0], "segment end < start")
    if not np.isfinite(scores).all():
        fail(~np.isfinite(scores), "score is not finite")
    if (labels < 0).any():
        fail(labels < 0, f"negative label {labels.min()}")
    return video_ids, segments, scores, labels


@dataclass(frozen=True)
class DetectionMetrics:
    """Detection AP of every class at every threshold.

    ``ap`` is ``(T, C)`` for ``tiou_thresholds`` ``(T,)`` and ``class_names`` ``(C,)``, NaN for a class
    without ground truth (not scored); ``map_per_threshold`` ``(T,)`` is the mean over scored classes,
    ``average_map`` its mean. ``num_positives`` ``(C,)`` counts ground-truth segments per class;
    ``unknown_videos`` are the videos of the results absent from the ground truth (their detections
    are false positives), in first-appearance order.
    """

    tiou_thresholds: np.ndarray
    ap: np.ndarray
    map_per_threshold: np.ndarray
    average_map: float
    class_names: list[str]
    num_positives: np.ndarray
    unknown_videos: tuple[str, ...] = field(default=())

    def to_json(self) -> dict[str, Any]:
        """``{"mAP": {"0.3": m, ...}, "average_mAP": m}`` with values in [0, 1], as the official ``mAP``."""
        return {"mAP": {threshold_key(t): float(m) for t, m in zip(self.tiou_thresholds, self.map_per_threshold)},
                "average_mAP": float(self.average_map)}


def threshold_key(threshold: float) -> str:
    """``0.3`` -> ``"0.3"``, ``np.linspace``'s ``0.8999999999999999`` -> ``"0.9"``."""
    return f"{round(float(threshold), 6):g}"


def check_thresholds(tiou_thresholds: Sequence[float]) -> np.ndarray:
    """``tiou_thresholds`` as a float64 ``(T,)`` array; ``ValueError`` unless non-empty and in ``(0, 1]``."""
    thresholds = np.asarray(tiou_thresholds, dtype=np.float64).reshape(-1)
    if len(thresholds) == 0 or not np.all((thresholds > 0) & (thresholds <= 1)):
        raise ValueError(f"tIoU thresholds must be a non-empty list of values in (0, 1], got {list(thresholds)}")
    return thresholds


def _true_positives(pred_segments: np.ndarray, pred_group: np.ndarray, gt_segments: np.ndarray,
                    group_start: np.ndarray, group_size: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """Official greedy matching of ranked predictions -> ``(T, P)`` bool true positives.

    ``pred_segments`` ``(P, 2)`` are in rank order within each (class, video) group; ``pred_group``
    ``(P,)`` is the group, -1 where the video has no ground truth of the class. The ground truth of
    group ``g`` is ``gt_segments[group_start[g] : group_start[g] + group_size[g]]`` in official order.
    """
    num_thresholds, num_preds = len(thresholds), len(pred_segments)
    tp = np.zeros((num_thresholds, num_preds), dtype=bool)
    matched = np.flatnonzero(pred_group >= 0)
    sizes = group_size[pred_group[matched]]
    # The (prediction, ground truth) pairs that reach the lowest threshold (or are NaN, which reach
    # all: ``NaN < threshold`` is false) are the only ones that can match or lock a segment. Each
    # keeps how many of the sorted thresholds its tIoU reaches and the segment's position in the
    # official ``argsort(tiou)[::-1]``, computed on the full row as the official does (the order of
    # ties depends on the whole array); a row with a single candidate needs no order.
    sorted_thresholds = np.sort(thresholds)
    threshold_rank = np.empty(num_thresholds, dtype=np.int64)
    threshold_rank[np.argsort(thresholds, kind="stable")] = np.arange(num_thresholds)
    pred_start, pred_end = pred_segments[:, 0], pred_segments[:, 1]
    gt_start, gt_end = gt_segments[:, 0], gt_segments[:, 1]
    # Lengths once per segment: the same values the official computes per pair.
    pred_length, gt_length = pred_end - pred_start, gt_end - gt_start
    # NaN (0 / 0) needs a zero-length detection and a zero-length segment.
    may_be_nan = bool((pred_length == 0).any() and (gt_length == 0).any())
    lowest = sorted_thresholds[0]
    preds, counts, pair_gt, pair_tiou, pair_pos = [], [], [], [], []
    for size in np.unique(sizes):
        sel = matched[sizes == size]
        cols = np.arange(size)
        gt_index = group_start[pred_group[sel]][:, None] + cols
        start, end = pred_start[sel][:, None], pred_end[sel][:, None]
        intersection = (np.minimum(end, gt_end[gt_index]) - np.maximum(start, gt_start[gt_index])).clip(0)
        union = gt_length[gt_index] + pred_length[sel][:, None] - intersection
        with np.errstate(invalid="ignore", divide="ignore"):
            tiou = intersection / union
        keep = tiou >= lowest
        if may_be_nan:
            keep |= np.isnan(tiou)
        flat = np.flatnonzero(keep)
        r, j = np.divmod(flat, size)
        count = np.bincount(r, minlength=len(sel))
        pos = np.zeros(len(r), dtype=np.int64)
        multi = np.flatnonzero(count > 1)
        if len(multi):
            order = np.argsort(tiou[multi], axis=1)[:, ::-1]
            ranks = np.empty_like(order)
            np.put_along_axis(ranks, order, np.broadcast_to(cols, order.shape), axis=1)
            row_of = np.full(len(sel), -1)
            row_of[multi] = np.arange(len(multi))
            in_multi = np.flatnonzero(row_of[r] >= 0)
            pos[in_multi] = ranks[row_of[r[in_multi]], j[in_multi]]
        has = count > 0
        preds.append(sel[has])
        counts.append(count[has])
        pair_gt.append(gt_index.ravel()[flat])
        pair_tiou.append(tiou.ravel()[flat])
        pair_pos.append(pos)
    preds = np.concatenate(preds) if preds else np.zeros(0, dtype=np.int64)
    if len(preds) == 0:
        return tp
    # Each prediction's pairs are contiguous (row-major ``nonzero`` within its size bucket).
    num_pairs = np.concatenate(counts)
    first_pair = np.cumsum(num_pairs) - num_pairs
    pair_gt = np.concatenate(pair_gt)
    pair_level = np.searchsorted(sorted_thresholds, np.concatenate(pair_tiou), side="right")
    pair_pos = np.concatenate(pair_pos)
    # Predictions with a candidate, by group and, within it, in rank order; step k of the matching
    # takes the k-th of every group at once (groups are independent, the order within one is not).
    by_group = np.argsort(pred_group[preds] * num_preds + preds)
    preds, first_pair, num_pairs = preds[by_group], first_pair[by_group], num_pairs[by_group]
    groups = pred_group[preds]
    new_group = np.r_[True, groups[1:] != groups[:-1]]
    step = np.arange(len(preds)) - np.maximum.accumulate(np.where(new_group, np.arange(len(preds)), 0))
    # Entries in step order, and their pairs laid out contiguously in that order, so that a step
    # is one slice of entries and one slice of pairs.
    by_step = np.argsort(step, kind="stable")
    preds, first_pair, num_pairs = preds[by_step], first_pair[by_step], num_pairs[by_step]
    entry_bounds = np.r_[0, np.cumsum(np.bincount(step))]
    pair_offset = np.cumsum(num_pairs) - num_pairs
    pair_order = np.repeat(first_pair - pair_offset, num_pairs) + np.arange(int(num_pairs.sum()))
    pair_gt, pair_level, pair_pos = pair_gt[pair_order], pair_level[pair_order], pair_pos[pair_order]
    pair_bounds = np.r_[pair_offset, len(pair_order)][entry_bounds]
    locked = np.zeros((num_thresholds, len(gt_segments)), dtype=bool)
    never = np.iinfo(np.int64).max
    t_rank = threshold_rank[:, None]
    for k in range(len(entry_bounds) - 1):
        entries = slice(entry_bounds[k], entry_bounds[k + 1])
        pairs = slice(pair_bounds[k], pair_bounds[k + 1])
        gt_index = pair_gt[pairs]
        candidate = (pair_level[pairs] > t_rank) & ~locked[:, gt_index]
        key = np.where(candidate, pair_pos[pairs], never)
        best = np.minimum.reduceat(key, pair_offset[entries] - pair_bounds[k], axis=1)
        tp[:, preds[entries]] = best < never
        # Positions within one prediction's row are distinct: the minimum marks a single pair.
        chosen = candidate & (key == np.repeat(best, num_pairs[entries], axis=1))
        t_hit, p_hit = np.nonzero(chosen)
        locked[t_hit, gt_index[p_hit]] = True
    return tp


def _interpolated_ap(tp: np.ndarray, num_positives: int, counts: np.ndarray | None = None) -> np.ndarray:
    """VOC 2011 interpolated AP of ranked true-positive flags ``tp`` ``(T, N)`` -> ``(T,)``.

    The official ``interpolated_prec_rec`` pads precision with 0 at both ends and recall with 0 and
    1, makes precision monotone from the right and sums ``(r_i - r_{i-1}) * p_i`` where recall
    changes, i.e. at the true positives. Precision rises only at a true positive, so its maximum over
    any tail of the ranking is reached at a true positive: the envelope is the reverse running
    maximum over the true positives alone, and the pads add nothing. At the ``i``-th true positive,
    ranked ``k`` (0-based), precision is ``i / (k + 1)`` -- the official ``tp / (tp + fp)`` -- unless
    ``counts`` ``(T, N)`` marks which detections count at all (``ambiguous="ignore"`` drops some
    false positives), then ``i / (counted up to k)``. Recall is ``i / npos``.
    """
    t_idx, rank = np.nonzero(tp)
    num_tp = np.bincount(t_idx, minlength=len(tp))
    width = int(num_tp.max()) if len(t_idx) else 0
    ordinal = np.arange(1, len(rank) + 1) - (np.cumsum(num_tp) - num_tp)[t_idx]
    counted = rank + 1 if counts is None else np.cumsum(counts, axis=1)[t_idx, rank]
    precision = np.zeros((len(tp), width))
    precision[t_idx, ordinal - 1] = ordinal.astype(np.float64) / counted.astype(np.float64)
    envelope = np.maximum.accumulate(precision[:, ::-1], axis=1)[:, ::-1]
    recall = np.arange(width + 1, dtype=np.float64) / float(num_positives)
    return (envelope * (recall[1:] - recall[:-1])).sum(axis=1)


def average_precisions(gt_video: np.ndarray, gt_label: np.ndarray, gt_segments: np.ndarray, pred_video: np.ndarray,
                       pred_label: np.ndarray, pred_segments: np.ndarray, pred_scores: np.ndarray, num_videos: int,
                       num_classes: int, thresholds: np.ndarray, pred_ignorable: np.ndarray | None = None
                       ) -> tuple[np.ndarray, np.ndarray]:
    """``(ap (T, C), num_positives (C,))``; AP NaN for classes without ground truth.

    Ground truth (at least one segment) in official order: video list order, then annotation order,
    ``gt_video`` indexing ``num_videos`` videos; ``pred_video`` is -1 for videos absent from the
    ground truth; ``pred_ignorable`` ``(P,)`` marks detections that overlap an ambiguous region
    (dropped when they are false positives).
    """
    num_positives = np.bincount(gt_label, minlength=num_classes)
    ap = np.full((len(thresholds), num_classes), np.nan)
    # Rank each scored class's predictions as the official code: its scores in file order, argsort, reversed.
    small = np.int16 if num_classes < 2**15 else np.int64  # numpy's stable sort of 16-bit ints is a radix sort
    by_label = np.argsort(pred_label.astype(small), kind="stable")
    label_bounds = np.r_[0, np.cumsum(np.bincount(pred_label, minlength=num_classes))]
    ranked, class_bounds = [], [0]
    for c in range(num_classes):
        idx = by_label[label_bounds[c]:label_bounds[c + 1]]
        if num_positives[c] == 0:
            idx = idx[:0]
        ranked.append(idx[np.argsort(pred_scores[idx])[::-1]])
        class_bounds.append(class_bounds[-1] + len(ranked[-1]))
    ranked = np.concatenate(ranked).astype(np.int64)
    # (class, video) groups of the ground truth, each in official order.
    gt_key = gt_label * num_videos + gt_video
    gt_order = np.argsort(gt_key, kind="stable")
    group_keys, group_start, group_size = np.unique(gt_key[gt_order], return_index=True, return_counts=True)
    pred_group = np.full(len(ranked), -1, dtype=np.int64)
    known = np.flatnonzero(pred_video[ranked] >= 0)
    pred_key = pred_label[ranked[known]] * num_videos + pred_video[ranked[known]]
    slot = np.searchsorted(group_keys, pred_key).clip(max=len(group_keys) - 1)
    found = group_keys[slot] == pred_key
    pred_group[known[found]] = slot[found]
    tp = _true_positives(pred_segments[ranked], pred_group, gt_segments[gt_order], group_start, group_size,
                         thresholds)
    # With ambiguous="ignore", a false positive overlapping an ambiguous region does not count.
    counts = None if pred_ignorable is None else tp | ~pred_ignorable[ranked][None, :]
    for c in np.flatnonzero(num_positives):
        lo, hi = class_bounds[c], class_bounds[c + 1]
        ap[:, c] = _interpolated_ap(tp[:, lo:hi], int(num_positives[c]), None if counts is None else counts[:, lo:hi])
    return ap, num_positives


def overlaps_regions(pred_video: np.ndarray, pred_segments: np.ndarray, regions: list[np.ndarray]) -> np.ndarray:
    """``(P,)``: the detection has a positive intersection with a region ``(A, 2)`` of its video."""
    hit = np.zeros(len(pred_video), dtype=bool)
    by_video = np.argsort(pred_video, kind="stable")
    bounds = np.searchsorted(pred_video[by_video], np.arange(len(regions) + 1))
    for v, area in enumerate(regions):
        sel = by_video[bounds[v]:bounds[v + 1]]
        if len(area) == 0 or len(sel) == 0:
            continue
        seg = pred_segments[sel]
        inter = np.minimum(seg[:, 1:], area[None, :, 1]) - np.maximum(seg[:, :1], area[None, :, 0])
        hit[sel] = (inter > 0).any(axis=1)
    return hit


def video_indices(video_ids: np.ndarray, index: dict[str, int]) -> np.ndarray:
    """``(P,)`` index of each id in ``index``, -1 if absent; looked up once per run of equal ids."""
    if len(video_ids) == 0:
        return np.zeros(0, dtype=np.int64)
    run_start = np.flatnonzero(np.r_[True, video_ids[1:] != video_ids[:-1]])
    run_index = np.array([index.get(v, -1) for v in video_ids[run_start].tolist()], dtype=np.int64)
    return np.repeat(run_index, np.diff(np.r_[run_start, len(video_ids)]))


def average_precision(gt_video_ids: Sequence[str], gt_segments: np.ndarray, video_ids: Sequence[str],
                      segments: np.ndarray, scores: np.ndarray,
                      tiou_thresholds: Sequence[float] = ANET_TIOU_THRESHOLDS) -> np.ndarray:
    """AP of one class at each threshold -> ``(T,)``: the official ``compute_average_precision_detection``.

    Ground truth: ``gt_video_ids`` ``(G,)`` and ``gt_segments`` ``(G, 2)`` in file order; predictions:
    ``video_ids`` ``(P,)``, ``segments`` ``(P, 2)``, ``scores`` ``(P,)`` in file order.
    """
    thresholds = check_thresholds(tiou_thresholds)
    gt_segments = np.asarray(gt_segments, dtype=np.float64).reshape(-1, 2)
    if len(gt_segments) == 0:
        raise ValueError("average_precision needs at least one ground-truth segment")
    index = {v: i for i, v in enumerate(dict.fromkeys(str(v) for v in gt_video_ids))}
    gt_video = np.array([index[str(v)] for v in gt_video_ids], dtype=np.int64)
    video_ids, segments, scores, labels = detection_arrays(video_ids, segments, scores,
                                                           np.zeros(len(video_ids), dtype=np.int64))
    pred_video = video_indices(video_ids, index)
    ap, _ = average_precisions(gt_video, np.zeros(len(gt_video), dtype=np.int64), gt_segments, pred_video,
                               labels, segments, scores, len(index), 1, thresholds)
    return ap[:, 0]
