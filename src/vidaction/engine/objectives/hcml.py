"""HCML's objectives for an :class:`~vidaction.models.motion.hcml.HCMLNet` on clips ``(N, 3, T, H, W)``:
the joint loss (eq. 5) and one self-supervised term of the progressive phase (Sec. 3.2)."""

from __future__ import annotations

from torch import Tensor, nn

from vidaction.engine.objectives.base import Objective
from vidaction.losses.hcml import hcml_losses, hcml_terms


class HCMLObjective(Objective):
    """HCML's joint loss (eq. 5) for an :class:`~vidaction.models.motion.hcml.HCMLNet`:
    cross-entropy + ``reconstruction_weight`` L_reconstruct + ``contrastive_weight`` sum_l L_contrastive^l."""

    def __init__(self, reconstruction_weight: float = 15.0, contrastive_weight: float = 0.25,
                 num_locations: int = 16) -> None:
        self.reconstruction_weight = reconstruction_weight
        self.contrastive_weight = contrastive_weight
        self.num_locations = num_locations

    def loss(self, net: nn.Module, clip: Tensor, labels: Tensor) -> tuple[Tensor, Tensor, dict[str, Tensor]]:
        output = net(clip, return_motion=True)
        total, terms = hcml_losses(output, clip, labels, self.reconstruction_weight, self.contrastive_weight,
                                   self.num_locations)
        return total, output.scores, terms


class HCMLStageObjective(Objective):
    """One stage of HCML's progressive self-supervised phase (Sec. 3.2): the single unweighted term
    ``term`` (``"reconstruct"`` or ``"contrastive_<level>"``); labels are not used."""

    def __init__(self, term: str, num_locations: int = 16) -> None:
        self.term = term
        self.num_locations = num_locations

    def loss(self, net: nn.Module, clip: Tensor, labels: Tensor) -> tuple[Tensor, Tensor, dict[str, Tensor]]:
        output = net(clip, return_motion=True)
        terms = hcml_terms(output, clip, self.num_locations, only=self.term)
        return terms[self.term], output.scores, terms
