"""AFSD's detection objective on window batches (:class:`~vidaction.engine.batches.DetectionInputs`,
targets ``[(segments (K, 2), labels (K,))]`` in steps of each window).

:class:`DetectionObjective`: AFSD's loss (:func:`vidaction.losses.detection.afsd_loss`) of the
detector's raw output, plus ``loss.contrastive_weight`` x the boundary contrastive term
(:func:`~vidaction.losses.detection.boundary_contrastive_loss`) of a second forward on the windows'
augmented copies (:func:`add_contrastive_term`).
"""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from vidaction.config import DetectionLossConfig
from vidaction.engine.objectives.base import Objective
from vidaction.losses.detection import afsd_loss, boundary_contrastive_loss


def add_contrastive_term(total: Tensor, terms: dict[str, Tensor], net: nn.Module,
                         contrast: tuple[Tensor, Tensor, Tensor] | None, weight: float) -> Tensor:
    """``total + weight x`` the boundary contrastive loss of the detector's output on the augmented
    windows ``contrast = (x, mask, proposals)``, logged unweighted as ``terms["contrastive"]``;
    ``total`` itself when there are none or ``weight`` is 0.

    The forward is :meth:`~vidaction.models.detector.TemporalDetector.forward_enhanced` (the head on
    GAF's ``F'`` alone, as the authors' ``ssl`` branch) of the module inside a DistributedDataParallel
    wrapper: its parameters are among the step's first forward's, whose backward hooks all-reduce
    the gradients both forwards sum into, and a second forward through the wrapper would redo its
    bookkeeping of unused parameters."""
    if contrast is None or weight <= 0:
        return total
    x, mask, proposals = contrast
    terms["contrastive"] = boundary_contrastive_loss(getattr(net, "module", net).forward_enhanced(x, mask),
                                                     proposals, weight=1.0)
    return total + weight * terms["contrastive"]


class DetectionObjective(Objective):
    """AFSD's weighted loss plus the boundary contrastive term."""

    def __init__(self, cfg: DetectionLossConfig) -> None:
        self.cfg = cfg

    def loss(self, net: nn.Module, inputs, targets: list[tuple[Tensor, Tensor]]) -> tuple[Tensor, Any, dict[str, Tensor]]:
        output = net(inputs.x, inputs.mask)
        cfg = self.cfg
        total, terms = afsd_loss(output, targets, piou=cfg.piou, loc_weight=cfg.loc_weight, cls_weight=cfg.cls_weight,
                                 boundary_weight=cfg.boundary_weight, branch_boundary_weight=cfg.branch_boundary_weight,
                                 focal_gamma=cfg.focal_gamma, background_alpha=cfg.background_alpha)
        total = add_contrastive_term(total, terms, net, inputs.contrast, cfg.contrastive_weight)
        return total, output, terms
