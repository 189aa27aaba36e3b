"""AFSD's training objective (Lin et al., CVPR 2021, Sec. 3.2-3.4), used by GAF (Sec. III-A, eq. 14's detector).

All in input steps (frames, or feature steps with pre-extracted features). The terms of
:func:`afsd_loss`:

- coarse: softmax focal loss (:func:`softmax_focal_loss`) over the valid locations and GIoU loss of
  the ``(left, right)`` distances over the positives (:func:`assign_locations`: the location's
  centre lies in the ground truth, the shortest one wins), both divided by the number of positives;
- refinement: L1 of the offsets and the refined focal loss, for positives whose detached coarse
  segment has IoU ``>= piou`` with their ground truth (:func:`refinement_targets`);
- quality: BCE of the quality logit against the (detached) IoU of the refined segment;
- boundary consistency (AFSD Sec. 3.4): start/end BCE (:func:`boundary_activation_loss`) and the
  triplet loss of :func:`boundary_contrastive_loss` on an augmented window.

Padded locations and steps enter no term. Reference-code facts and decisions:
docs/papers/gaf.md#afsd-loss.
"""

from __future__ import annotations

from typing import NamedTuple, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from vidaction.models.heads.afsd import AFSDOutput, boundary_regions, refine_distances
from vidaction.models.layers.boundary_pooling import start_end_max_pool

Target = tuple[Tensor, Tensor]
_EPS = torch.finfo(torch.float32).eps


def softmax_focal_loss(logits: Tensor, labels: Tensor, gamma: float = 2.0, background_alpha: float = 0.25) -> Tensor:
    """AFSD's softmax focal loss, per element: ``(N, K + 1), (N,) -> (N,)``.

    ``-alpha_y (1 - p_y)^gamma log p_y`` with ``p = softmax(logits)``, ``alpha = background_alpha``
    for label 0 and ``1 - background_alpha`` for actions (``FocalLoss_Ori(balance_index=0, alpha=0.25)``).
    """
    log_p = F.log_softmax(logits, dim=-1).gather(-1, labels.unsqueeze(-1)).squeeze(-1)
    alpha = torch.where(labels == 0, background_alpha, 1.0 - background_alpha).to(log_p.dtype)
    return -alpha * (1.0 - log_p.exp()).clamp(min=0.0).pow(gamma) * log_p


def distance_iou(pred: Tensor, target: Tensor) -> Tensor:
    """IoU of segments given as ``(left, right)`` distances from a shared centre: ``(..., 2) x 2 -> (...)``."""
    inter = torch.minimum(pred[..., 0], target[..., 0]) + torch.minimum(pred[..., 1], target[..., 1])
    union = pred.sum(-1) + target.sum(-1) - inter
    return inter / union.clamp(min=_EPS)


def distance_giou_loss(pred: Tensor, target: Tensor) -> Tensor:
    """``1 - GIoU`` of ``(left, right)`` distance segments: ``(..., 2) x 2 -> (...)``.

    AFSD's ``iou_loss(loss_type='giou')``. Two segments around the same centre always overlap, so
    their enclosing length is their union and this equals ``1 - IoU`` for non-negative distances.
    """
    inter = torch.minimum(pred[..., 0], target[..., 0]) + torch.minimum(pred[..., 1], target[..., 1])
    union = pred.sum(-1) + target.sum(-1) - inter
    enclosing = torch.maximum(pred[..., 0], target[..., 0]) + torch.maximum(pred[..., 1], target[..., 1])
    giou = inter / union.clamp(min=_EPS) - (enclosing - union) / enclosing.clamp(min=_EPS)
    return 1.0 - giou


class LocationTargets(NamedTuple):
    """Per-location coarse targets of a batch.

    ``labels`` ``(B, L)`` long: 0 background, ``k + 1`` for class ``k``; ``distances`` ``(B, L, 2)``
    from the centre to the assigned ground truth's start and end (0 at background); ``gt_index``
    ``(B, L)`` index into that window's ground truths (-1 at background); ``valid`` ``(B, L)`` bool.
    """

    labels: Tensor
    distances: Tensor
    gt_index: Tensor
    valid: Tensor

    @property
    def positive(self) -> Tensor:
        return self.labels > 0


class RefinementTargets(NamedTuple):
    """``labels`` ``(B, L)`` (0 where the coarse IoU is below ``piou``), ``offsets`` ``(B, L, 2)``, ``positive``."""

    labels: Tensor
    offsets: Tensor
    positive: Tensor


class AFSDTargets(NamedTuple):
    """Everything :func:`afsd_loss` compares with: location, refinement and per-step boundary targets ``(B, T)``."""

    locations: LocationTargets
    refinement: RefinementTargets
    start: Tensor
    end: Tensor


def pad_targets(targets: Sequence[Target], batch: int, num_classes: int | None,
                device: torch.device) -> tuple[Tensor, Tensor, Tensor]:
    """Ground truths of each window padded to ``(B, G, 2)`` segments, ``(B, G)`` labels, ``(B, G)`` validity.

    ``targets[b] = (segments (K, 2) [start, end], labels (K,) in [0, num_classes))`` (any integer
    labels where ``num_classes`` is None); ``G >= 1`` even without ground truths. Bad entries raise
    ``ValueError`` naming ``targets[b]``.
    """
    if len(targets) != batch:
        raise ValueError(f"got {len(targets)} targets for a batch of {batch} windows")
    most = max([len(t[0]) for t in targets] + [1])
    segments = torch.zeros(batch, most, 2, device=device)
    labels = torch.zeros(batch, most, dtype=torch.long, device=device)
    valid = torch.zeros(batch, most, dtype=torch.bool, device=device)
    for b, (segs, labs) in enumerate(targets):
        segs = torch.as_tensor(segs, dtype=torch.float32, device=device)
        labs = torch.as_tensor(labs, device=device)
        if segs.dim() != 2 or segs.shape[1] != 2 or labs.shape != (segs.shape[0],):
            raise ValueError(f"targets[{b}]: segments {tuple(segs.shape)} must be (K, 2) and "
                             f"labels {tuple(labs.shape)} (K,)")
        if len(labs) and (labs.is_floating_point() or labs.dtype == torch.bool or (
                num_classes is not None and (int(labs.min()) < 0 or int(labs.max()) >= num_classes))):
            raise ValueError(f"targets[{b}]: labels must be integers in [0, {num_classes}), got {labs.tolist()}")
        if not bool(torch.isfinite(segs).all()) or bool((segs[:, 1] < segs[:, 0]).any()):
            raise ValueError(f"targets[{b}]: segments must be finite with end >= start, got {segs.tolist()}")
        count = len(segs)
        segments[b, :count], labels[b, :count], valid[b, :count] = segs, labs.long(), True
    return segments, labels, valid


def level_ranges(level_sizes: Sequence[int], ranges: Sequence[tuple[float, float]], device: torch.device) -> Tensor:
    """Per-level ``(low, high]`` size ranges expanded to the ``(L, 2)`` locations."""
    if len(ranges) != len(level_sizes):
        raise ValueError(f"need one (low, high) range per level: {len(level_sizes)} levels, {len(ranges)} ranges")
    table = torch.tensor([list(r) for r in ranges], dtype=torch.float32, device=device)
    return table.repeat_interleave(torch.tensor(list(level_sizes), device=device), dim=0)


def assign_locations(centers: Tensor, mask: Tensor, targets: Sequence[Target], num_classes: int,
                     ranges: Tensor | None = None) -> LocationTargets:
    """AFSD's assignment of ground truths to locations (module docstring).

    ``centers``: ``(L,)`` in input steps; ``mask``: ``(B, L)``; ``targets``: per window
    ``(segments (K, 2), labels (K,))`` in input steps relative to the window start; ``ranges``:
    optional ``(L, 2)`` ``(low, high]`` bounds on ``max(left, right)`` (:func:`level_ranges`).
    """
    segments, labels, gt_valid = pad_targets(targets, mask.shape[0], num_classes, centers.device)
    left = centers.view(1, -1, 1) - segments[:, None, :, 0]
    right = segments[:, None, :, 1] - centers.view(1, -1, 1)
    inside = (left >= 0) & (right >= 0) & gt_valid[:, None, :] & mask[:, :, None]
    if ranges is not None:
        reach = torch.maximum(left, right)
        inside &= (reach > ranges[None, :, :1]) & (reach <= ranges[None, :, 1:])
    best = torch.where(inside, left + right, torch.full_like(left, float("inf"))).argmin(dim=2, keepdim=True)
    positive = inside.gather(2, best).squeeze(-1)
    distances = torch.stack([left.gather(2, best), right.gather(2, best)], dim=-1).squeeze(2)
    best = best.squeeze(-1)
    return LocationTargets(
        labels=torch.where(positive, labels.gather(1, best) + 1, 0),
        distances=distances * positive.unsqueeze(-1),
        gt_index=torch.where(positive, best, -1),
        valid=mask)


def refinement_targets(distances: Tensor, locations: LocationTargets, piou: float = 0.5) -> RefinementTargets:
    """Refinement targets from the detached coarse ``distances`` ``(B, L, 2)``: IoU gate ``piou`` and offsets."""
    coarse = distances.detach()
    iou = distance_iou(coarse, locations.distances)
    positive = locations.positive & (iou >= piou)
    half_length = (0.5 * coarse.sum(-1, keepdim=True)).clamp(min=_EPS)
    offsets = (locations.distances - coarse) / half_length
    return RefinementTargets(labels=torch.where(positive, locations.labels, 0),
                             offsets=offsets * positive.unsqueeze(-1), positive=positive)


def boundary_activation_targets(targets: Sequence[Target], num_steps: int,
                                device: torch.device) -> tuple[Tensor, Tensor]:
    """AFSD's per-step start and end labels ``(B, T)`` (``thumos_dataset.split_videos``).

    Around each ground-truth start ``s`` (end ``e``), with ``d = max((e - s) / 10, 2)``, the steps
    ``clip(round(s - d/2)) ... clip(round(s + d/2))`` (inclusive, clipped to ``[0, T - 1]``) are 1.
    """
    segments, _, valid = pad_targets(targets, len(targets), None, device)
    steps = torch.arange(num_steps, device=device).view(1, 1, -1)
    half = torch.clamp((segments[..., 1] - segments[..., 0]) / 10.0, min=2.0) / 2.0

    def label(points: Tensor) -> Tensor:
        low = torch.round(points - half).clamp(0, num_steps - 1).unsqueeze(-1)
        high = torch.round(points + half).clamp(0, num_steps - 1).unsqueeze(-1)
        return ((steps >= low) & (steps <= high) & valid.unsqueeze(-1)).any(dim=1).float()

    return label(segments[..., 0]), label(segments[..., 1])


def assign_targets(output: AFSDOutput, targets: Sequence[Target], piou: float = 0.5,
                   regress_ranges: Sequence[tuple[float, float]] | None = None) -> AFSDTargets:
    """All targets of :func:`afsd_loss` for one forward's ``output``; ``targets`` as :func:`assign_locations`."""
    num_classes = output.cls_logits.shape[-1] - 1
    device = output.centers.device
    ranges = None if regress_ranges is None else level_ranges(output.level_sizes, regress_ranges, device)
    locations = assign_locations(output.centers, output.mask, targets, num_classes, ranges)
    start, end = boundary_activation_targets(targets, output.frame_mask.shape[1], device)
    return AFSDTargets(locations, refinement_targets(output.distances, locations, piou), start, end)


def boundary_probability(features: Tensor) -> Tensor:
    """AFSD's start/end probability of boundary features: ``mean_c tanh(x)``, ``(B, D, T) -> (B, T)``.

    The features follow a ReLU, so this lies in ``[0, 1)``; the clamp only guards other inputs.
    """
    return torch.tanh(features).mean(dim=1).clamp(0.0, 1.0)


def boundary_activation_loss(output: AFSDOutput, start: Tensor, end: Tensor,
                             branch_weight: float = 0.1) -> tuple[Tensor, Tensor]:
    """AFSD's activation-guided learning: start and end BCE terms (``calc_bce_loss``), each a scalar.

    Frame-level term over the valid steps of ``output.frame_features`` plus ``branch_weight x`` the
    terms of ``loc_boundary`` and ``conf_boundary`` at level 0, whose labels are ``start[:, ::stride_0]``
    (AFSD: ``F.interpolate(scores, scale_factor=1 / 4)``).
    """
    stride = int(output.strides[0].item())
    level0 = output.level_sizes[0]
    level_mask = output.mask[:, :level0]

    def bce(features: Tensor, labels: Tensor, mask: Tensor) -> Tensor:
        probability = boundary_probability(features)
        return F.binary_cross_entropy(probability[mask], labels[mask])

    terms = []
    for index, labels in enumerate((start, end)):
        frame = output.frame_features.chunk(2, dim=1)[index]
        level_labels = labels[:, ::stride][:, :level0]
        branches = sum(bce(f.chunk(2, dim=1)[index], level_labels, level_mask)
                       for f in (output.loc_boundary, output.conf_boundary))
        terms.append(bce(frame, labels, output.frame_mask) + branch_weight * branches)
    return terms[0], terms[1]


def afsd_loss(output: AFSDOutput, targets: Sequence[Target], piou: float = 0.5, loc_weight: float = 10.0,
              cls_weight: float = 1.0, boundary_weight: float = 1.0, branch_boundary_weight: float = 0.1,
              focal_gamma: float = 2.0, background_alpha: float = 0.25,
              regress_ranges: Sequence[tuple[float, float]] | None = None) -> tuple[Tensor, dict[str, Tensor]]:
    """AFSD's loss of one forward: ``(total, terms)``; ``terms`` are unweighted.

    ``total = loc_weight * (loc + refined_loc) + cls_weight * (cls + refined_cls + quality) +
    boundary_weight * (start + end)``, as AFSD's ``train.py``. ``targets[b] = (segments (K, 2),
    labels (K,))`` in input steps relative to window ``b``'s start, labels ``0 .. C - 1``.
    """
    assigned = assign_targets(output, targets, piou, regress_ranges)
    locations, refinement = assigned.locations, assigned.refinement
    valid, positive, refined_positive = locations.valid, locations.positive, refinement.positive
    num_positive = positive.sum().clamp(min=1)
    num_refined = refined_positive.sum().clamp(min=1)

    cls = softmax_focal_loss(output.cls_logits[valid], locations.labels[valid], focal_gamma, background_alpha).sum()
    refined_cls = softmax_focal_loss(output.refined_logits[valid], refinement.labels[valid], focal_gamma,
                                     background_alpha).sum()
    loc = distance_giou_loss(output.distances[positive], locations.distances[positive]).sum()
    refined_loc = F.l1_loss(output.refined_offsets[refined_positive], refinement.offsets[refined_positive],
                            reduction="sum")
    with torch.no_grad():
        refined = refine_distances(output.distances[positive], output.refined_offsets[positive])
        quality_target = distance_iou(refined, locations.distances[positive]).clamp(0.0, 1.0)
    quality = F.binary_cross_entropy_with_logits(output.quality_logits[positive], quality_target, reduction="sum")
    start, end = boundary_activation_loss(output, assigned.start, assigned.end, branch_boundary_weight)

    terms = {
        "loc": loc / num_positive,
        "cls": cls / num_positive,
        "refined_loc": refined_loc / num_refined,
        "refined_cls": refined_cls / num_refined,
        "quality": quality / num_positive,
        "start": start,
        "end": end,
    }
    total = (loc_weight * (terms["loc"] + terms["refined_loc"])
             + cls_weight * (terms["cls"] + terms["refined_cls"] + terms["quality"])
             + boundary_weight * (start + end))
    return total, terms


def boundary_contrastive_loss(output: AFSDOutput, proposals: Tensor, margin: float = 1.0,
                              feature_weights: Sequence[float] = (1.0, 0.1, 0.1), weight: float = 0.1) -> Tensor:
    """AFSD's boundary contrastive learning (Sec. 3.4; ``BDNet.forward(ssl=True)`` + ``train.py``), a scalar.

    ``output`` is the forward of an augmented window and ``proposals`` ``(B, 3, 2)`` its three
    segments in input steps (AFSD ``THUMOS_Dataset.augment_``: a background stretch is pasted into
    an action instance; proposal 0 is the action before the paste, 1 the action after it, 2 the
    pasted background). Each proposal's start and end regions (:func:`boundary_regions` with
    ``extra_length = 1``) are max-pooled on the frame-level features and, divided by the level-0
    stride, on both level-0 boundary maps; the triplet is (end features of proposal 0, start features
    of proposal 1, start features of proposal 2), ``TripletMarginLoss(margin)`` (L2, batch mean), and
    the three feature maps are weighted by ``feature_weights``; ``weight`` is AFSD's ``ssl`` weight.
    """
    if proposals.dim() != 3 or proposals.shape[1:] != (3, 2) or proposals.shape[0] != output.frame_mask.shape[0]:
        raise ValueError(f"proposals {tuple(proposals.shape)} must be (B, 3, 2) with B = {output.frame_mask.shape[0]}")
    proposals = proposals.to(device=output.frame_features.device, dtype=output.frame_features.dtype)
    start_region, end_region = boundary_regions(proposals[..., 0], proposals[..., 1], extra_length=1.0)
    stride = float(output.strides[0].item())
    level0 = output.level_sizes[0]
    frame_lengths = output.frame_mask.sum(-1)
    level_lengths = output.mask[:, :level0].sum(-1)
    maps = ((output.frame_features, 1.0, frame_lengths), (output.loc_boundary, stride, level_lengths),
            (output.conf_boundary, stride, level_lengths))
    total = output.frame_features.new_zeros(())
    for (features, scale, lengths), feature_weight in zip(maps, feature_weights, strict=True):
        pooled = start_end_max_pool(features, start_region / scale, end_region / scale, lengths)
        half = pooled.shape[1] // 2
        anchor, positive, negative = pooled[:, half:, 0], pooled[:, :half, 1], pooled[:, :half, 2]
        total = total + feature_weight * F.triplet_margin_loss(anchor, positive, negative, margin=margin)
    return weight * total
