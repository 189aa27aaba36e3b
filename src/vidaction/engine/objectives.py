"""What the trainer minimises: ``objective(net, clip, labels) -> (loss, logits, terms)``.

``terms`` maps each named loss term to its (unweighted) value; the trainer logs them and names the
one that turned NaN. :class:`CrossEntropyObjective` is the default; :class:`MatureFeatureObjective`
adds W3's feature mimicking of a frozen teacher (eq. 9).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vidaction.losses.distill import feature_mimic_loss


class CrossEntropyObjective:
    """Label-smoothed cross-entropy on the clip scores."""

    def __init__(self, label_smoothing: float = 0.0) -> None:
        self.label_smoothing = label_smoothing

    def to(self, device: torch.device) -> "CrossEntropyObjective":
        return self

    def __call__(self, net: nn.Module, clip: Tensor, labels: Tensor) -> tuple[Tensor, Tensor, dict[str, Tensor]]:
        logits = net(clip)
        ce = F.cross_entropy(logits.float(), labels, label_smoothing=self.label_smoothing)
        return ce, logits, {"ce": ce}


class MatureFeatureObjective:
    """Cross-entropy + ``weight`` x feature mimicking of ``teacher``'s ``stage`` output (W3 eq. 9).

    The teacher is frozen and in eval mode; the student must accept ``return_features=True``.
    """

    def __init__(self, teacher: nn.Module, weight: float, label_smoothing: float = 0.0, stage: str = "layer4") -> None:
        self.teacher = teacher.eval().requires_grad_(False)
        self.weight = weight
        self.label_smoothing = label_smoothing
        self.stage = stage

    def to(self, device: torch.device) -> "MatureFeatureObjective":
        self.teacher.to(device)
        return self

    def __call__(self, net: nn.Module, clip: Tensor, labels: Tensor) -> tuple[Tensor, Tensor, dict[str, Tensor]]:
        logits, features = net(clip, return_features=True)
        with torch.no_grad():
            target = self.teacher.forward_features(clip)[self.stage]
        ce = F.cross_entropy(logits.float(), labels, label_smoothing=self.label_smoothing)
        mimic = feature_mimic_loss(features[self.stage].float(), target.float())
        return ce + self.weight * mimic, logits, {"ce": ce, "mimic": mimic}
