"""Mature feature-guided regularisation (W3, Sec. 3.4, eq. 9).

``L_fm = || y_i^Q - y_i^P ||_2`` between the student's (Q) and the frozen teacher's (P) refined
last-stage feature maps of frame ``i`` (eq. 8), averaged over the frames and clips of a batch.

By default (``normalize=True``) the norm is divided by ``sqrt(C_l H_l W_l)``, the root-mean-square
difference per element, the same for any map size; ``normalize=False`` is eq. 9 literally.
Decisions and measurements: docs/papers/w3.md#mfr.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor


def feature_mimic_loss(student: Tensor, teacher: Tensor, normalize: bool = True) -> Tensor:
    """Mean per-frame L2 distance of ``(N, C, T, H, W)`` maps, divided by ``sqrt(C H W)`` when
    ``normalize``; the teacher gets no gradient."""
    if student.shape != teacher.shape:
        raise ValueError(f"student features {tuple(student.shape)} and teacher features "
                         f"{tuple(teacher.shape)} differ in shape")
    difference = (student - teacher.detach()).transpose(1, 2).flatten(2)
    distance = torch.linalg.vector_norm(difference, dim=2).mean()
    return distance / math.sqrt(difference.shape[2]) if normalize else distance
