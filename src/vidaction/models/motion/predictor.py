"""HCML's motion predictor f_delta (Yang et al., ECCV 2020, Sec. 3.2).

At a level ``l > 0`` the motion features ``P^l_t`` predict the future motion features of the previous
level, conditioned on the previous level at the start time:
``P^_{t+delta}^{l-1} = f_delta([P^l_t, P^{l-1}_t])``, ``[., .]`` a channel concatenation, for the
future ``P^{l-1}_{>t}``. The prediction is trained by the contrastive loss of eq. 2
(:func:`vidaction.losses.contrastive.hierarchical_contrastive_loss`).

The ground truth is the lower level's whole sequence, average pooled in space to the ``H x W`` of
``P^l``; step ``t`` of ``P^l`` starts at the lower level's step ``r t`` (``r = temporal_stride``) and
predicts ``delta = 1 .. steps`` steps ahead with one shared ``1x1x1 conv -> ReLU -> 1x1x1 conv``
(no BatchNorm, nothing detached). Decisions: docs/papers/hcml.md#motion-predictor.

Shapes: ``current: (N, C_l, T_l, H, W)``, ``previous: (N, C_{l-1}, T_{l-1}, H_{l-1}, W_{l-1})`` with
``T_l = ceil(T_{l-1} / r)`` and ``H_{l-1} >= H``, ``W_{l-1} >= W``. ``predictions[:, delta - 1, :, t]``
is ``P^_{r t + delta}``: ``(N, steps, C_{l-1}, T_l, H, W)``; ``targets``, the ground truth, is
``(N, C_{l-1}, T_{l-1}, H, W)``. Entries with ``r t + delta >= T_{l-1}`` have no ground truth; they
are computed (the MLP is pointwise) and the loss leaves them out.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class MotionPrediction(NamedTuple):
    """``predictions: (N, steps, C_{l-1}, T_l, H, W)`` with ``[:, delta - 1, :, t]`` predicting
    ``targets[:, :, temporal_stride * t + delta]``; ``targets``: the spatially pooled ``P^{l-1}``,
    ``(N, C_{l-1}, T_{l-1}, H, W)``."""

    predictions: Tensor
    targets: Tensor
    temporal_stride: int


class MotionPredictor(nn.Module):
    """``f_delta`` of Sec. 3.2 for ``delta = 1 .. steps``: one-hidden-layer MLP on ``[P^l_t, P^{l-1}_{r t}]``.

    Args:
        in_channels_current: ``C_l`` of the motion features ``P^l``.
        in_channels_previous: ``C_{l-1}`` of the previous level's motion features ``P^{l-1}``.
        hidden: width of the hidden layer.
        out_channels: channels of each prediction; must equal ``in_channels_previous``, since the
            predictions are ``P^{l-1}`` compared with their ground truth by cosine similarity (eq. 2).
        steps: number of future steps of the lower level predicted from each start.
        temporal_stride: ``r``, the lower level's steps per step of the current level.
    """

    def __init__(self, in_channels_current: int, in_channels_previous: int, hidden: int, out_channels: int,
                 steps: int, temporal_stride: int = 1) -> None:
        super().__init__()
        if min(in_channels_current, in_channels_previous, hidden, out_channels, steps, temporal_stride) < 1:
            raise ValueError("channels, hidden, steps and temporal_stride must be positive, got "
                             f"{in_channels_current}, {in_channels_previous}, {hidden}, {out_channels}, {steps}, "
                             f"{temporal_stride}")
        if out_channels != in_channels_previous:
            raise ValueError(f"out_channels ({out_channels}) must equal in_channels_previous "
                             f"({in_channels_previous}): the predictions are the previous level's motion features")
        self.in_channels_current = in_channels_current
        self.in_channels_previous = in_channels_previous
        self.out_channels = out_channels
        self.steps = steps
        self.temporal_stride = temporal_stride
        self.mlp = nn.Sequential(
            nn.Conv3d(in_channels_current + in_channels_previous, hidden, 1),
            nn.ReLU(inplace=True),
            nn.Conv3d(hidden, steps * out_channels, 1),
        )

    def forward(self, current: Tensor, previous: Tensor) -> MotionPrediction:
        if current.dim() != 5 or previous.dim() != 5:
            raise ValueError(f"expected 5D current and previous (N, C, T, H, W), got {tuple(current.shape)} "
                             f"and {tuple(previous.shape)}")
        if current.shape[1] != self.in_channels_current or previous.shape[1] != self.in_channels_previous:
            raise ValueError(f"expected {self.in_channels_current} and {self.in_channels_previous} channels, got "
                             f"current {tuple(current.shape)} and previous {tuple(previous.shape)}")
        n, _, t, h, w = current.shape
        frames = previous.shape[2]
        if (current.shape[0] != previous.shape[0] or -(-frames // self.temporal_stride) != t
                or previous.shape[3] < h or previous.shape[4] < w):
            raise ValueError(f"previous {tuple(previous.shape)} must have the batch of current "
                             f"{tuple(current.shape)}, ceil(T_previous / {self.temporal_stride}) = T_current time "
                             "steps and an H x W at least as large")
        targets = F.adaptive_avg_pool3d(previous, (frames, h, w))
        start = targets[:, :, ::self.temporal_stride]
        predictions = self.mlp(torch.cat([current, start], dim=1))
        return MotionPrediction(predictions.view(n, self.steps, self.out_channels, t, h, w), targets,
                                self.temporal_stride)
