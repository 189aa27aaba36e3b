"""What the trainer minimises: ``objective(net, clip, labels) -> (loss, logits, terms)``.

``terms`` maps each named loss term to its (unweighted) value; the trainer logs them and names the
one that turned NaN. :class:`CrossEntropyObjective` is the default; :class:`MatureFeatureObjective`
adds W3's feature mimicking of a frozen teacher (eq. 9); :class:`HCMLObjective` is HCML's joint
loss (eq. 5) and :class:`HCMLStageObjective` one self-supervised term of its progressive phase;
:class:`GAFRecognitionObjective` is GAF's recognition ``L_clf`` (eq. 12, Table II).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vidaction.losses.distill import feature_mimic_loss
from vidaction.losses.gaf import gaf_recognition_loss
from vidaction.losses.hcml import hcml_losses, hcml_terms


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


class CrossEntropyObjective:
    """Label-smoothed cross-entropy on the clip scores (summed over heads for several heads)."""

    def __init__(self, label_smoothing: float = 0.0, head_sizes: tuple[int, ...] = ()) -> None:
        self.label_smoothing = label_smoothing
        self.head_sizes = head_sizes

    def to(self, device: torch.device) -> "CrossEntropyObjective":
        return self

    def __call__(self, net: nn.Module, clip: Tensor, labels: Tensor) -> tuple[Tensor, Tensor, dict[str, Tensor]]:
        logits = net(clip)
        ce = classification_loss(logits, labels, self.head_sizes, self.label_smoothing)
        return ce, logits, {"ce": ce}


class MatureFeatureObjective:
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

    def __call__(self, net: nn.Module, clip: Tensor, labels: Tensor) -> tuple[Tensor, Tensor, dict[str, Tensor]]:
        logits, features = net(clip, return_features=True)
        with torch.no_grad():
            target = self.teacher.forward_features(clip)[self.stage]
        ce = classification_loss(logits, labels, self.head_sizes, self.label_smoothing)
        mimic = feature_mimic_loss(features[self.stage].float(), target.float(), self.normalize)
        return ce + self.weight * mimic, logits, {"ce": ce, "mimic": mimic}


class HCMLObjective:
    """HCML's joint loss (eq. 5) for an :class:`~vidaction.models.motion.hcml.HCMLNet`:
    cross-entropy + ``reconstruction_weight`` L_reconstruct + ``contrastive_weight`` sum_l L_contrastive^l."""

    def __init__(self, reconstruction_weight: float = 15.0, contrastive_weight: float = 0.25,
                 num_locations: int = 16) -> None:
        self.reconstruction_weight = reconstruction_weight
        self.contrastive_weight = contrastive_weight
        self.num_locations = num_locations

    def to(self, device: torch.device) -> "HCMLObjective":
        return self

    def __call__(self, net: nn.Module, clip: Tensor, labels: Tensor) -> tuple[Tensor, Tensor, dict[str, Tensor]]:
        output = net(clip, return_motion=True)
        total, terms = hcml_losses(output, clip, labels, self.reconstruction_weight, self.contrastive_weight,
                                   self.num_locations)
        return total, output.scores, terms


class HCMLStageObjective:
    """One stage of HCML's progressive self-supervised phase (Sec. 3.2): the single unweighted term
    ``loss`` (``"reconstruct"`` or ``"contrastive_<level>"``); labels are not used."""

    def __init__(self, loss: str, num_locations: int = 16) -> None:
        self.loss = loss
        self.num_locations = num_locations

    def to(self, device: torch.device) -> "HCMLStageObjective":
        return self

    def __call__(self, net: nn.Module, clip: Tensor, labels: Tensor) -> tuple[Tensor, Tensor, dict[str, Tensor]]:
        output = net(clip, return_motion=True)
        terms = hcml_terms(output, clip, self.num_locations, only=self.loss)
        return terms[self.loss], output.scores, terms


class GAFRecognitionObjective:
    """GAF's recognition loss for a :class:`~vidaction.models.generative.gaf_classifier.GAFClassifier`:
    cross-entropy of the action-instance feature's class + ``nonaction_weight`` x that of the
    non-action feature as background (eq. 12 with footnote 2)."""

    def __init__(self, nonaction_weight: float = 1.0, label_smoothing: float = 0.0) -> None:
        self.nonaction_weight = nonaction_weight
        self.label_smoothing = label_smoothing

    def to(self, device: torch.device) -> "GAFRecognitionObjective":
        return self

    def __call__(self, net: nn.Module, clip: Tensor, labels: Tensor) -> tuple[Tensor, Tensor, dict[str, Tensor]]:
        output = net(clip, return_attention=True)
        total, terms = gaf_recognition_loss(output, labels, self.nonaction_weight, self.label_smoothing)
        return total, output.scores, terms
