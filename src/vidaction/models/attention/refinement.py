"""Attention-guided feature refinement (W3, Perez-Rua et al., Sec. 3.4, eqs. 7-8, Fig. 2).

The spatial masks ``M^{s,j}`` of the last attended block of each of the ``N`` attended stages are
adaptive-average-pooled to the last stage's size and concatenated (eq. 7, ``M^ms``: ``N`` channels),
mapped by ``theta_ref``, one 1x1 conv with ``C_l`` kernels and a ReLU, and added to the last stage's
features frame by frame (eq. 8): ``y_i = x_i + f_ref(M^ms_i)``. The pathway is W3's deep supervision
of the attention modules: its output reaches the loss without passing through the backbone.

One module serves 2D backbones (TSN/TSM, frames folded into the batch: the conv is applied to each
frame, as eq. 8) and 3D backbones (I3D: each of the last stage's ``T'`` time steps).

``f_ref = scale * ReLU(W M^ms + b)`` with a per-channel ``scale`` initialised to 0 (so ``y = x`` at
step 0), Kaiming ``W`` and ``b = 1``; for ``scale >= 0`` this is the paper's conv + ReLU.
Decisions and measurements: docs/papers/w3.md#refinement.

Checkpoints written before ``scale`` existed hold ``weight`` and ``bias`` only; they load with
``scale = 1``, the function they were trained with.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class AttentionRefinement(nn.Module):
    """``f_ref(M^ms)`` of eqs. 7-8: ``masks: list of (N*T, 1, H_j, W_j) -> (N*T, C_l, H_l, W_l)``
    (``dims=2``), or ``list of (N, 1, T_j, H_j, W_j) -> (N, C_l, T_l, H_l, W_l)`` (``dims=3``).

    Args:
        num_masks: N, the attended stages whose masks are gathered.
        channels: ``C_l``, the last stage's channels.
        dims: 2 for per-frame maps, 3 for spatio-temporal maps.
    """

    def __init__(self, num_masks: int, channels: int, dims: int = 2) -> None:
        super().__init__()
        if dims not in (2, 3):
            raise ValueError(f"dims must be 2 or 3, got {dims}")
        self.dims = dims
        self.weight = nn.Parameter(torch.empty(channels, num_masks, *(1,) * dims))
        self.bias = nn.Parameter(torch.ones(channels))
        self.scale = nn.Parameter(torch.zeros(channels))
        nn.init.kaiming_normal_(self.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, masks: Sequence[Tensor], size: Sequence[int]) -> Tensor:
        pool = F.adaptive_avg_pool2d if self.dims == 2 else F.adaptive_avg_pool3d
        conv = F.conv2d if self.dims == 2 else F.conv3d
        pooled = torch.cat([pool(m, tuple(size)) for m in masks], dim=1)
        return self.scale.view(-1, *(1,) * self.dims) * F.relu(conv(pooled, self.weight, self.bias))

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
                              error_msgs) -> None:
        # Checkpoints from before ``scale`` were trained as y = x + ReLU(W M + b).
        if prefix + "weight" in state_dict and prefix + "scale" not in state_dict:
            state_dict[prefix + "scale"] = torch.ones_like(self.scale)
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
                                      error_msgs)
