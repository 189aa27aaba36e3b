"""HCML's joint objective, eq. 5: ``L = L_cls + lambda L_reconstruct + sum_l gamma^l L_contrastive^l``
with ``lambda = 15`` and ``gamma^l = 0.25`` (appendix B.2). ``num_locations`` (N of Sec. 3.2, not
given in the paper; 16 here) is capped at each level's ``H * W``."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from vidaction.losses.contrastive import hierarchical_contrastive_loss
from vidaction.losses.photometric import DEFAULT_ZETA, reconstruction_loss
from vidaction.models.motion.hcml import HCMLOutput


def hcml_terms(output: HCMLOutput, frames: Tensor, num_locations: int = 16, temperature: float = 0.07,
               zeta: float = DEFAULT_ZETA, generator: torch.Generator | None = None,
               only: str | None = None) -> dict[str, Tensor]:
    """The unweighted self-supervised terms: ``"reconstruct"`` (eqs. 3-4 on the flow from ``P^0``),
    ``"reconstruct_<level>"`` for further flow levels (the frames their temporal stride apart), and
    ``"contrastive_<level>"`` (eq. 2) per level > 0; ``only`` computes just the term of that name
    (one stage of the progressive phase)."""
    flow_names = {level: "reconstruct" if index == 0 else f"reconstruct_{level}"
                  for index, level in enumerate(output.flows)}
    names = [*flow_names.values(), *(f"contrastive_{level}" for level in output.predictions)]
    if only is not None and only not in names:
        raise ValueError(f"no HCML loss term {only!r}; this network has {names}")
    terms = {}
    for level, name in flow_names.items():
        if only in (None, name):
            stride = output.flow_strides[level]
            terms[name] = reconstruction_loss(frames[:, :, ::stride].float(), output.flows[level].float(), zeta)
    for level, prediction in output.predictions.items():
        if only not in (None, f"contrastive_{level}"):
            continue
        height, width = prediction.targets.shape[-2:]
        terms[f"contrastive_{level}"] = hierarchical_contrastive_loss(
            prediction.predictions.float(), prediction.targets.float(), min(num_locations, height * width),
            temperature, generator, prediction.temporal_stride)[0]
    return terms


def hcml_losses(output: HCMLOutput, frames: Tensor, labels: Tensor | None, reconstruction_weight: float = 15.0,
                contrastive_weight: float = 0.25, num_locations: int = 16, temperature: float = 0.07,
                zeta: float = DEFAULT_ZETA,
                generator: torch.Generator | None = None) -> tuple[Tensor, dict[str, Tensor]]:
    """``(total, terms)`` of eq. 5; ``labels=None`` leaves out the classification term."""
    terms = hcml_terms(output, frames, num_locations, temperature, zeta, generator)
    total = reconstruction_weight * sum(value for key, value in terms.items() if key.startswith("reconstruct")) + \
        contrastive_weight * sum(value for key, value in terms.items() if key.startswith("contrastive_"))
    if labels is not None:
        terms["ce"] = F.cross_entropy(output.scores.float(), labels)
        total = total + terms["ce"]
    return total, terms
