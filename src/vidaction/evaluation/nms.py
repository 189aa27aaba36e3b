"""Temporal non-maximum suppression: Gaussian soft-NMS (Bodla et al., ICCV 2017) and greedy NMS.

AFSD (``AFSD/common/segment_utils.py`` ``softnms_v2``; GAF Sec. IV-B uses AFSD's test) suppresses
each class's segments separately: repeatedly keep the highest-scoring remaining segment and decay
every other remaining score by ``exp(-IoU^2 / sigma)``, dropping segments whose score falls below
``score_threshold``, until ``top_k`` are kept. Its test defaults (``configs/thumos14.yaml``
``testing``): ``nms_sigma = 0.5``, ``top_k = 5000``, score floor 0.001 (``softnms_v2``'s default),
candidates above ``conf_thresh = 0.01``; ActivityNet: ``nms_sigma = 0.85``. ``nms_thresh = 0.5``
is read but unused by AFSD's soft-NMS; it is the default IoU threshold of :func:`nms` here.

Differences from ``softnms_v2`` (decided): its loop runs ``while undone > 1``, so the last remaining
segment of a class is never kept; here it is. The IoU's union is clamped at ``1e-5`` (AFSD clamps
only the kept segment's length), so zero-length segments give IoU 0 instead of NaN.

Every class is processed at once: candidates are grouped into a ``(classes, M)`` score matrix and
each step keeps one segment per class with row-wise ``argmax`` (ties go to the earlier candidate, as
in AFSD) and updates all rows together, so the Python loop runs ``max_c min(top_k, M_c)`` times,
not once per class and kept segment.
"""

from __future__ import annotations

import torch
from torch import Tensor

_MIN_UNION = 1e-5


def segment_iou(segments: Tensor, others: Tensor) -> Tensor:
    """Pairwise temporal IoU: ``(..., N, 2), (..., M, 2) -> (..., N, M)``."""
    start = torch.maximum(segments[..., :, None, 0], others[..., None, :, 0])
    end = torch.minimum(segments[..., :, None, 1], others[..., None, :, 1])
    inter = (end - start).clamp(min=0)
    lengths = (segments[..., 1] - segments[..., 0]).clamp(min=0)
    other_lengths = (others[..., 1] - others[..., 0]).clamp(min=0)
    union = lengths[..., :, None] + other_lengths[..., None, :] - inter
    return inter / union.clamp(min=_MIN_UNION)


def soft_nms(segments: Tensor, scores: Tensor, sigma: float = 0.5, top_k: int = 5000,
             score_threshold: float = 0.001) -> tuple[Tensor, Tensor]:
    """Gaussian soft-NMS of one class: ``(N, 2), (N,) -> (keep (M,) indices in order kept, decayed scores (M,))``."""
    return batched_soft_nms(segments, scores, torch.zeros_like(scores, dtype=torch.long), sigma, top_k, score_threshold)


def nms(segments: Tensor, scores: Tensor, iou_threshold: float = 0.5, top_k: int = 5000) -> Tensor:
    """Greedy NMS of one class: ``(N, 2), (N,) -> keep (M,)``; a segment with IoU ``>= iou_threshold``
    with a kept one is removed (AFSD ``segment_utils.nms``)."""
    return batched_nms(segments, scores, torch.zeros_like(scores, dtype=torch.long), iou_threshold, top_k)


def batched_soft_nms(segments: Tensor, scores: Tensor, labels: Tensor, sigma: float = 0.5, top_k: int = 5000,
                     score_threshold: float = 0.001) -> tuple[Tensor, Tensor]:
    """Per-class Gaussian soft-NMS: ``(N, 2), (N,), (N,) -> (keep (M,), decayed scores (M,))``.

    Segments of different ``labels`` never suppress each other; at most ``top_k`` are kept per class;
    a segment is dropped once its (decayed) score is below ``score_threshold``. ``keep`` is grouped
    by ascending label, each group in the order kept.
    """
    if sigma <= 0:
        raise ValueError(f"sigma must be positive, got {sigma}")
    return _suppress(segments, scores, labels, top_k, score_threshold, sigma=sigma, iou_threshold=None)


def batched_nms(segments: Tensor, scores: Tensor, labels: Tensor, iou_threshold: float = 0.5,
                top_k: int = 5000) -> Tensor:
    """Per-class greedy NMS: ``(N, 2), (N,), (N,) -> keep (M,)``, grouped by ascending label."""
    keep, _ = _suppress(segments, scores, labels, top_k, -float("inf"), sigma=None, iou_threshold=iou_threshold)
    return keep


def _suppress(segments: Tensor, scores: Tensor, labels: Tensor, top_k: int, score_threshold: float,
              sigma: float | None, iou_threshold: float | None) -> tuple[Tensor, Tensor]:
    _check(segments, scores, labels, top_k)
    if scores.numel() == 0:
        return torch.zeros(0, dtype=torch.long, device=scores.device), scores.new_zeros(0)
    rows, columns, index = _group_by_label(labels)
    num_rows, width = int(rows.max()) + 1, int(columns.max()) + 1
    grid_scores = scores.new_zeros(num_rows, width)
    grid_segments = segments.new_zeros(num_rows, width, 2)
    candidate = torch.zeros(num_rows, width, dtype=torch.bool, device=scores.device)
    grid_scores[rows, columns] = scores[index]
    grid_segments[rows, columns] = segments[index]
    candidate[rows, columns] = True
    undone = candidate & (grid_scores >= score_threshold)
    all_rows = torch.arange(num_rows, device=scores.device)
    kept_columns, kept_scores, kept_valid = [], [], []
    for _ in range(min(top_k, width)):
        if not bool(undone.any()):
            break
        active = undone.any(dim=1)
        pick = torch.where(undone, grid_scores, -float("inf")).argmax(dim=1)
        kept_columns.append(pick)
        kept_scores.append(grid_scores[all_rows, pick])
        kept_valid.append(active)
        undone[all_rows, pick] = False
        iou = segment_iou(grid_segments[all_rows, pick].unsqueeze(1), grid_segments).squeeze(1)
        if sigma is not None:
            grid_scores = torch.where(undone, grid_scores * torch.exp(-iou.square() / sigma), grid_scores)
            undone &= grid_scores >= score_threshold
        else:
            undone &= iou < iou_threshold
    if not kept_columns:
        return torch.zeros(0, dtype=torch.long, device=scores.device), scores.new_zeros(0)
    order_columns, order_scores, order_valid = (torch.stack(x, dim=1) for x in (kept_columns, kept_scores, kept_valid))
    lookup = torch.full((num_rows, width), -1, dtype=torch.long, device=scores.device)
    lookup[rows, columns] = index
    keep = lookup.gather(1, order_columns)[order_valid]
    return keep, order_scores[order_valid]


def _group_by_label(labels: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Row (rank of the label), column (rank within the label, original order) and index of every candidate."""
    index = torch.argsort(labels, stable=True)
    sorted_labels = labels[index]
    _, rows, counts = torch.unique_consecutive(sorted_labels, return_inverse=True, return_counts=True)
    starts = torch.cumsum(counts, 0) - counts
    columns = torch.arange(len(labels), device=labels.device) - starts[rows]
    return rows, columns, index


def _check(segments: Tensor, scores: Tensor, labels: Tensor, top_k: int) -> None:
    if (segments.dim() != 2 or segments.shape[1] != 2 or scores.shape != (segments.shape[0],)
            or labels.shape != scores.shape):
        raise ValueError(f"segments {tuple(segments.shape)}, scores {tuple(scores.shape)} and labels "
                         f"{tuple(labels.shape)} must be (N, 2), (N,), (N,)")
    if top_k < 1:
        raise ValueError(f"top_k must be >= 1, got {top_k}")
