"""From :class:`~vidaction.models.heads.afsd.AFSDOutput` to a video's detections in seconds (AFSD's test).

The chain of AFSD's ``AFSD/thumos14/test.py`` (GAF Sec. IV-B evaluates the same way), one small
function per step:

1. :func:`decode_windows`: refined distances ``d + 0.5 (d_l + d_r) * offset``, segments
   ``[centre - d_l, centre + d_r]`` clamped to the window's valid steps (AFSD clamps to
   ``[0, clip_length]``; here ``[0, valid length]`` so a padded window predicts nothing in its
   padding); class scores ``(softmax(coarse) + softmax(refined)) / 2 * sigmoid(quality)`` without the
   background column; invalid locations score 0.
2. :func:`window_candidates`: per window, every (location, class) whose score is above
   ``score_threshold`` (AFSD's ``conf_thresh = 0.01``, strict ``>``), mapped to seconds:
   ``seconds = time_offset + (window_start + position) * seconds_per_step`` (AFSD:
   ``(segment + offset) / sample_fps``).
3. :func:`merge_video_detections`: a video's candidates from all its windows, per-class soft-NMS
   (:func:`~vidaction.evaluation.nms.batched_soft_nms`; AFSD: sigma 0.5, 5000 per class, score floor
   0.001), optional clipping to ``[0, duration]`` after NMS dropping empty segments (AFSD's
   ActivityNet test), then the best ``max_detections`` by score (AFSD keeps all; ``None``).

Two streams (RGB and flow, GAF Sec. IV-B) are fused before step 1 by :func:`fuse_streams`, which
averages the raw distances, offsets and logits as AFSD's ``test.py --fusion`` does.

Detections are sorted by descending score (AFSD lists class by class); class indices are ``0 .. K-1``
without background, as the annotation readers number them.
"""

from __future__ import annotations

from typing import NamedTuple, Sequence

import torch
from torch import Tensor

from vidaction.evaluation.nms import batched_soft_nms
from vidaction.models.heads.afsd import AFSDOutput, refine_distances


class Candidates(NamedTuple):
    """One window's scored segments: ``segments`` ``(M, 2)`` seconds, ``scores`` ``(M,)``, ``labels`` ``(M,)``."""

    segments: Tensor
    scores: Tensor
    labels: Tensor


class Detection(NamedTuple):
    """One detected action instance: ``segment`` ``(start, end)`` in seconds, class index, score."""

    segment: tuple[float, float]
    label: int
    score: float


def fuse_streams(outputs: Sequence[AFSDOutput]) -> AFSDOutput:
    """Average of the streams' raw predictions (distances, offsets, all logits); geometry from the first.

    The streams must share their window geometry (centres and masks).
    """
    if not outputs:
        raise ValueError("need at least one stream to fuse")
    first = outputs[0]
    for index, other in enumerate(outputs[1:], start=1):
        if other.cls_logits.shape != first.cls_logits.shape or not torch.equal(other.mask, first.mask):
            raise ValueError(f"stream {index} has locations {tuple(other.cls_logits.shape)} or a mask unlike "
                             f"stream 0's {tuple(first.cls_logits.shape)}")
    fields = ("cls_logits", "distances", "refined_offsets", "refined_logits", "quality_logits")
    return first._replace(**{f: torch.stack([getattr(o, f) for o in outputs]).mean(0) for f in fields})


def decode_windows(output: AFSDOutput) -> tuple[Tensor, Tensor]:
    """``(segments (B, L, 2) in window steps, scores (B, L, K))`` of a batch of windows (step 1 above)."""
    distances = refine_distances(output.distances, output.refined_offsets)
    centers = output.centers.to(distances.dtype).view(1, -1)
    segments = torch.stack([centers - distances[..., 0], centers + distances[..., 1]], dim=-1)
    length = output.frame_mask.sum(-1).to(segments.dtype).view(-1, 1, 1)
    segments = torch.minimum(segments.clamp(min=0), length)
    probabilities = (output.cls_logits.softmax(-1) + output.refined_logits.softmax(-1)) / 2
    scores = probabilities[..., 1:] * output.quality_logits.sigmoid().unsqueeze(-1)
    return segments, scores * output.mask.unsqueeze(-1).to(scores.dtype)


def window_candidates(segments: Tensor, scores: Tensor, window_start: float, seconds_per_step: float,
                      time_offset: float = 0.0, score_threshold: float = 0.01) -> Candidates:
    """One window's ``(L, 2)`` segments and ``(L, K)`` scores to :class:`Candidates` in seconds (step 2)."""
    if segments.dim() != 2 or scores.dim() != 2 or scores.shape[0] != segments.shape[0]:
        raise ValueError(f"segments {tuple(segments.shape)} and scores {tuple(scores.shape)} must be (L, 2) and (L, K)")
    location, label = torch.nonzero(scores > score_threshold, as_tuple=True)
    seconds = time_offset + (window_start + segments[location].double()) * seconds_per_step
    return Candidates(seconds, scores[location, label], label)


def merge_video_detections(candidates: Sequence[Candidates], sigma: float = 0.5, top_k: int = 5000,
                           nms_score_threshold: float = 0.001, duration: float | None = None,
                           max_detections: int | None = None) -> list[Detection]:
    """All windows of one video -> its detections (step 3), best first."""
    if not candidates:
        return []
    segments = torch.cat([c.segments.double() for c in candidates]).cpu()
    scores = torch.cat([c.scores.double() for c in candidates]).cpu()
    labels = torch.cat([c.labels for c in candidates]).cpu()
    keep, kept_scores = batched_soft_nms(segments, scores, labels, sigma, top_k, nms_score_threshold)
    kept_segments, kept_labels = segments[keep], labels[keep]
    if duration is not None:
        kept_segments = kept_segments.clamp(0.0, duration)
        nonempty = kept_segments[:, 1] > kept_segments[:, 0]
        kept_segments, kept_labels, kept_scores = kept_segments[nonempty], kept_labels[nonempty], kept_scores[nonempty]
    order = torch.argsort(kept_scores, descending=True, stable=True)
    if max_detections is not None:
        order = order[:max_detections]
    return [Detection((float(kept_segments[i, 0]), float(kept_segments[i, 1])), int(kept_labels[i]),
                      float(kept_scores[i])) for i in order.tolist()]


def detect_videos(output: AFSDOutput, video_ids: Sequence[str], window_starts: Sequence[float],
                  seconds_per_step: float | Sequence[float], time_offset: float | Sequence[float] = 0.0,
                  score_threshold: float = 0.01, sigma: float = 0.5, top_k: int = 5000,
                  nms_score_threshold: float = 0.001, durations: dict[str, float] | None = None,
                  max_detections: int | None = None) -> dict[str, list[Detection]]:
    """Steps 1-3 for a batch whose windows are all the windows of the videos they name.

    ``video_ids[b]``, ``window_starts[b]`` (input steps), ``seconds_per_step`` and ``time_offset``
    (one value, or one per window) describe window ``b``. For videos whose windows span several
    batches, call :func:`decode_windows` and :func:`window_candidates` per batch and
    :func:`merge_video_detections` once per video.
    """
    batch = output.cls_logits.shape[0]
    per_step = _per_window(seconds_per_step, batch, "seconds_per_step")
    offsets = _per_window(time_offset, batch, "time_offset")
    if len(video_ids) != batch or len(window_starts) != batch:
        raise ValueError(f"need one video id and window start per window: {batch} windows, "
                         f"{len(video_ids)} ids, {len(window_starts)} starts")
    segments, scores = decode_windows(output)
    grouped: dict[str, list[Candidates]] = {}
    for b, video in enumerate(video_ids):
        grouped.setdefault(video, []).append(
            window_candidates(segments[b], scores[b], float(window_starts[b]), per_step[b], offsets[b],
                              score_threshold))
    return {video: merge_video_detections(parts, sigma, top_k, nms_score_threshold,
                                          None if durations is None else durations.get(video), max_detections)
            for video, parts in grouped.items()}


def _per_window(value: float | Sequence[float], batch: int, name: str) -> list[float]:
    if isinstance(value, (int, float)):
        return [float(value)] * batch
    values = [float(v) for v in value]
    if len(values) != batch:
        raise ValueError(f"{name} has {len(values)} values for {batch} windows")
    return values
