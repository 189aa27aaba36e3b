"""Mature feature-guided regularisation (W3, Sec. 3.4, eq. 9).

``L_fm = || y_i^Q - y_i^P ||_2`` between the student's (Q) and the frozen teacher's (P) refined
last-stage feature maps of frame ``i`` (eq. 8), averaged over the frames and clips of a batch.
The norm is taken literally (not squared, not normalised by the map size), so its scale grows with
``C_l H_l W_l``; the recipe's ``mimic_weight`` sets the balance with cross-entropy.
"""

from __future__ import annotations

import torch
from torch import Tensor


def feature_mimic_loss(student: Tensor, teacher: Tensor) -> Tensor:
    """Mean per-frame L2 distance of ``(N, C, T, H, W)`` maps; the teacher gets no gradient."""
    if student.shape != teacher.shape:
        raise ValueError(f"student features {tuple(student.shape)} and teacher features "
                         f"{tuple(teacher.shape)} differ in shape")
    difference = (student - teacher.detach()).transpose(1, 2).flatten(2)
    return torch.linalg.vector_norm(difference, dim=2).mean()
