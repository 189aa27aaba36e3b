"""Mature feature-guided regularisation (W3, Sec. 3.4, eq. 9).

``L_fm = || y_i^Q - y_i^P ||_2`` between the student's (Q) and the frozen teacher's (P) refined
last-stage feature maps of frame ``i`` (eq. 8), averaged over the frames and clips of a batch.

Normalisation (the paper gives none; its stage-2 objective is cross-entropy plus eq. 9). The norm
runs over ``C_l H_l W_l`` values per frame (100,352 for ResNet-50 at 224 px), so its size, unlike
cross-entropy's, grows with the map. Measured at the start of stage 2 (issue 12: ``tsm_r50`` + W3
+ refinement, 8 x 224 x 224, batch 2, 174 classes, the teacher a differently seeded model of the
same architecture with BatchNorm statistics of the batch): cross-entropy 5.14 (ln 174), eq. 9
taken literally 272, 53 times as large; on the student's parameters its gradient norm was 69.7
against cross-entropy's 17.1. By default (``normalize=True``) the norm is divided by
``sqrt(C_l H_l W_l)``, the root-mean-square difference per element: 0.86 there (0.17 x
cross-entropy, gradient norm 0.22), the same for any map size, so one ``recipe.mimic_weight`` (1.0)
serves 56 px and 224 px inputs and cross-entropy stays the leading term when stage 2 starts.
``normalize=False`` is eq. 9 literally.
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
