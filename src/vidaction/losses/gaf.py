"""GAF's segment-level losses (Sec. III-B-2, eqs. 11-14) for the detector, and the recognition
variant's ``L_clf`` (Table II, footnote 2), on the outputs of :mod:`vidaction.models.generative.gaf` and
:mod:`vidaction.models.generative.gaf_classifier`.

Detection (:func:`gaf_detection_loss`), per window batch:

- ``L_clf = L_clf_ai + L_clf_n-ai`` (eq. 12): cross-entropy of the pooled classifier's ``K + 1``
  logits of ``f_ai`` against the window's class distribution (:func:`action_class_distribution`),
  and of ``f_n-ai`` against background (index 0); averaged over windows and over the maps.
- ``L_reg = L_reg_ai + L_reg_n-ai`` (eq. 13): AFSD's loss (:func:`~vidaction.losses.detection.afsd_loss`)
  of the detector on ``F'`` against the ground truth, and :func:`nonaction_detection_loss`, the
  coarse focal loss towards background of the detector on the ``(1 - lambda)``-weighted maps.
- ``L_d = alpha (clf_ai + w_clf clf_nai) + beta (reg_ai + w_reg reg_nai)`` (eq. 14; defaults
  ``alpha = beta = w_clf = 1``, ``w_reg = 35``); ``use_nonaction=False`` drops both non-action terms
  (Table IV's first row). ``L_R`` (eq. 15) is :func:`vidaction.losses.cvae.representation_loss`.

Decisions and the authors' code: docs/papers/gaf.md#segment-losses.

Recognition (:func:`gaf_recognition_loss`): ``L_clf`` alone, ``f_ai``'s logits against the clip
label ``k`` (class index ``k + 1``) and ``f_n-ai``'s against background.

Each loss returns ``(total, terms)`` with unweighted named terms, as ``afsd_loss``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from vidaction.losses.detection import Target, afsd_loss, pad_targets, softmax_focal_loss
from vidaction.models.generative.gaf import GAFOutput
from vidaction.models.generative.gaf_classifier import GAFClassifierOutput
from vidaction.models.generative.segment_attention import SegmentAttentionOutput
from vidaction.models.heads.afsd import AFSDOutput, CoarseClassOutput


def action_class_distribution(targets: Sequence[Target], mask: Tensor, num_classes: int) -> Tensor:
    """Soft class targets of ``f_ai`` ``(B, K + 1)``: each class's share of the instance steps inside
    the valid part of the window (``mask`` ``(B, T)``, a prefix); one-hot background where none.

    ``targets[b] = (segments (K_b, 2) in input steps, labels (K_b,) in [0, K))``; overlapping
    instances count once each, zero-length ones not at all.
    """
    segments, labels, valid = pad_targets(targets, mask.shape[0], num_classes, mask.device)
    length = mask.sum(dim=1, keepdim=True).to(segments.dtype)
    covered = (torch.minimum(segments[..., 1], length) - segments[..., 0].clamp(min=0)).clamp(min=0) * valid
    shares = covered.new_zeros(mask.shape[0], num_classes + 1).scatter_add_(1, labels + 1, covered)
    total = shares.sum(dim=1, keepdim=True)
    background = torch.zeros_like(shares)
    background[:, 0] = 1.0
    return torch.where(total > 0, shares / total.clamp(min=torch.finfo(shares.dtype).tiny), background)


def segment_classification_loss(segment: SegmentAttentionOutput, class_targets: Tensor) -> tuple[Tensor, Tensor]:
    """Eq. 12: ``(L_clf_ai, L_clf_n-ai)``, each averaged over windows and maps; ``class_targets``
    ``(B, K + 1)`` probabilities (:func:`action_class_distribution`)."""
    background = class_targets.new_zeros(class_targets.shape[0], dtype=torch.long)
    action = torch.stack([F.cross_entropy(logits.float(), class_targets) for logits in segment.action_logits])
    nonaction = torch.stack([F.cross_entropy(logits.float(), background) for logits in segment.nonaction_logits])
    return action.mean(), nonaction.mean()


def nonaction_detection_loss(output: AFSDOutput | CoarseClassOutput, focal_gamma: float = 2.0,
                             background_alpha: float = 0.25) -> Tensor:
    """Eq. 13's ``L_reg_n-ai``: AFSD's coarse focal loss towards background at every valid location
    of the detector's output on the non-action maps, summed over locations, averaged over windows."""
    labels = output.cls_logits.new_zeros(output.cls_logits.shape[:2], dtype=torch.long)
    focal = softmax_focal_loss(output.cls_logits.float(), labels, focal_gamma, background_alpha)
    return focal.where(output.mask, 0.0).sum() / output.mask.shape[0]


def gaf_detection_loss(gaf: GAFOutput, targets: Sequence[Target], action_output: AFSDOutput,
                       nonaction_output: AFSDOutput | CoarseClassOutput | None = None, alpha: float = 1.0,
                       beta: float = 1.0,
                       nonaction_clf_weight: float = 1.0, nonaction_reg_weight: float = 35.0,
                       use_nonaction: bool = True, piou: float = 0.5, loc_weight: float = 10.0,
                       cls_weight: float = 1.0, boundary_weight: float = 1.0, branch_boundary_weight: float = 0.1,
                       focal_gamma: float = 2.0, background_alpha: float = 0.25,
                       regress_ranges: Sequence[tuple[float, float]] | None = None) -> tuple[Tensor, dict[str, Tensor]]:
    """Eq. 14's ``L_d`` of one forward (module docstring): ``(total, terms)``.

    Args:
        gaf: the GAF's output (phase ``"segment"``), e.g. ``detector.attention.last_output``.
        targets: per window ``(segments (K, 2), labels (K,))`` in input steps, labels ``0 .. K - 1``.
        action_output: the detector head on ``gaf.features`` (the detector's ordinary forward).
        nonaction_output: the head (or just its coarse classification,
            :meth:`~vidaction.models.heads.afsd.AFSDHead.coarse_classification`) on
            ``gaf.nonaction_maps``; needed when ``use_nonaction``.
        alpha, beta: eq. 14's weights of ``L_clf`` and ``L_reg``.
        nonaction_clf_weight, nonaction_reg_weight: weights of ``L_clf_n-ai`` and ``L_reg_n-ai``.
        use_nonaction: include the non-action terms (Table IV: ``+ L_n-ai``).
        piou ... regress_ranges: :func:`~vidaction.losses.detection.afsd_loss`'s options.

    Terms: ``clf_ai``, ``reg_ai`` and AFSD's terms as ``ai_<name>``; with ``use_nonaction`` also
    ``clf_nai`` and ``reg_nai``.
    """
    if use_nonaction and nonaction_output is None:
        raise ValueError("use_nonaction needs nonaction_output: the detector head run on gaf.nonaction_maps")
    num_classes = action_output.cls_logits.shape[-1] - 1
    class_targets = action_class_distribution(targets, gaf.mask, num_classes)
    clf_ai, clf_nai = segment_classification_loss(gaf.segment, class_targets)
    reg_ai, afsd_terms = afsd_loss(action_output, targets, piou=piou, loc_weight=loc_weight, cls_weight=cls_weight,
                                   boundary_weight=boundary_weight, branch_boundary_weight=branch_boundary_weight,
                                   focal_gamma=focal_gamma, background_alpha=background_alpha,
                                   regress_ranges=regress_ranges)
    terms = {"clf_ai": clf_ai, "reg_ai": reg_ai, **{f"ai_{name}": value for name, value in afsd_terms.items()}}
    total_clf, total_reg = clf_ai, reg_ai
    if use_nonaction:
        reg_nai = nonaction_detection_loss(nonaction_output, focal_gamma, background_alpha)
        terms.update(clf_nai=clf_nai, reg_nai=reg_nai)
        total_clf = total_clf + nonaction_clf_weight * clf_nai
        total_reg = total_reg + nonaction_reg_weight * reg_nai
    return alpha * total_clf + beta * total_reg, terms


def gaf_recognition_loss(output: GAFClassifierOutput, labels: Tensor, nonaction_weight: float = 1.0,
                         label_smoothing: float = 0.0) -> tuple[Tensor, dict[str, Tensor]]:
    """Recognition's ``L_clf`` (eq. 12 with footnote 2): ``clf_ai + nonaction_weight * clf_nai``.

    ``labels`` ``(N,)`` in ``[0, K)``; ``f_ai``'s target is class ``label + 1``, ``f_n-ai``'s background 0.
    """
    if labels.dim() != 1 or labels.shape[0] != output.action_logits.shape[0]:
        raise ValueError(f"labels {tuple(labels.shape)} must be (N,) for {output.action_logits.shape[0]} clips")
    num_classes = output.action_logits.shape[1] - 1
    if len(labels) and (int(labels.min()) < 0 or int(labels.max()) >= num_classes):
        raise ValueError(f"labels must lie in [0, {num_classes}), got {labels.tolist()}")
    clf_ai = F.cross_entropy(output.action_logits.float(), labels + 1, label_smoothing=label_smoothing)
    clf_nai = F.cross_entropy(output.nonaction_logits.float(), torch.zeros_like(labels))
    return clf_ai + nonaction_weight * clf_nai, {"clf_ai": clf_ai, "clf_nai": clf_nai}
