"""Recognition objectives: ``loss(net, clip (N, 3, T, H, W), labels (N,)) -> (loss, logits (N, K), terms)``.

:class:`CrossEntropyObjective` is the default; :class:`MatureFeatureObjective` adds W3's feature
mimicking of a frozen teacher (eq. 9); :class:`GAFRecognitionObjective` is GAF's recognition
``L_clf`` (eq. 12, Table II). With several heads (labels ``(N, H)``) the scores are the heads'
``(N, K_h)`` blocks side by side.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vidaction.losses.distill import feature_mimic_loss
from vidaction.engine.objectives.base import Objective
from vidaction.losses.gaf import gaf_recognition_loss


def classification_loss(logits: Tensor, labels: Tensor, head_sizes: tuple[int, ...],
                        label_smoothing: float = 0.0) -> Tensor:
    """Cross-entropy of ``(N, K)`` scores and ``(N,)`` labels; with several heads (labels
    ``(N, H)``, scores the heads' ``(N, K_h)`` blocks side by side) the sum over heads."""
    logits = logits.float()
    if labels.dim() == 1:
        return F.cross_entropy(logits, labels, label_smoothing=label_smoothing)
    return sum(F.cross_entropy(part, labels[:, h], label_smoothing=label_smoothing)
               for h, part in enumerate(logits.split(head_sizes, dim=1)))


def correct_predictions(logits: Tensor, labels: Tensor, head_sizes: tuple[int, ...]) -> Tensor:
    """``(N,)`` bool: the arg-max class is right (every head's, for several heads)."""
    if labels.dim() == 1:
        return logits.argmax(1) == labels
    predicted = torch.stack([part.argmax(1) for part in logits.split(head_sizes, dim=1)], dim=1)
    return (predicted == labels).all(dim=1)


class CrossEntropyObjective(Objective):
    """Label-smoothed cross-entropy on the clip scores (summed over heads for several heads)."""

    def __init__(self, label_smoothing: float = 0.0, head_sizes: tuple[int, ...] = ()) -> None:
        self.label_smoothing = label_smoothing
        self.head_sizes = head_sizes

    def loss(self, net: nn.Module, clip: Tensor, labels: Tensor) -> tuple[Tensor, Tensor, dict[str, Tensor]]:
        logits = net(clip)
        ce = classification_loss(logits, labels, self.head_sizes, self.label_smoothing)
        return ce, logits, {"ce": ce}


class MatureFeatureObjective(Objective):
    """Cross-entropy + ``weight`` x feature mimicking of ``teacher``'s ``stage`` output (W3 eq. 9),
    per element (``normalize``, see :mod:`vidaction.losses.distill`) or literally.

    The teacher is frozen and in eval mode; the student must accept ``return_features=True``.
    """

    def __init__(self, teacher: nn.Module, weight: float, label_smoothing: float = 0.0, stage: str = "layer4",
                 head_sizes: tuple[int, ...] = (), normalize: bool = True) -> None:
        self.teacher = teacher.eval().requires_grad_(False)
        self.head_sizes = head_sizes
        self.weight = weight
        self.normalize = normalize
        self.label_smoothing = label_smoothing
        self.stage = stage

    def to(self, device: torch.device) -> "MatureFeatureObjective":
        self.teacher.to(device)
        return self

    def loss(self, net: nn.Module, clip: Tensor, labels: Tensor) -> tuple[Tensor, Tensor, dict[str, Tensor]]:
        logits, features = net(clip, return_features=True)
        with torch.no_grad():
            target = self.teacher.forward_features(clip)[self.stage]
        ce = classification_loss(logits, labels, self.head_sizes, self.label_smoothing)
        mimic = feature_mimic_loss(features[self.stage].float(), target.float(), self.normalize)
        return ce + self.weight * mimic, logits, {"ce": ce, "mimic": mimic}


class GAFRecognitionObjective(Objective):
    """GAF's recognition loss for a :class:`~vidaction.models.generative.gaf_classifier.GAFClassifier`:
    cross-entropy of the action-instance feature's class + ``nonaction_weight`` x that of the
    non-action feature as background (eq. 12 with footnote 2)."""

    def __init__(self, nonaction_weight: float = 1.0, label_smoothing: float = 0.0) -> None:
        self.nonaction_weight = nonaction_weight
        self.label_smoothing = label_smoothing

    def loss(self, net: nn.Module, clip: Tensor, labels: Tensor) -> tuple[Tensor, Tensor, dict[str, Tensor]]:
        output = net(clip, return_attention=True)
        total, terms = gaf_recognition_loss(output, labels, self.nonaction_weight, self.label_smoothing)
        return total, output.scores, terms
