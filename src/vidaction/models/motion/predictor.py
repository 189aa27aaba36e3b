"""HCML's motion predictor f_delta (Yang et al., ECCV 2020, Sec. 3.2).

At a level ``l > 0`` the motion features ``P^l_t`` predict the future motion features of the previous
level, conditioned on the previous level at the start time:
``P^_{t+delta}^{l-1} = f_delta([P^l_t, P^{l-1}_t])``, ``[., .]`` a channel concatenation. The
prediction is trained by the contrastive loss of eq. 2
(:func:`vidaction.losses.contrastive.hierarchical_contrastive_loss`).

Decisions where the paper is silent or leaves a choice:

- Common grid. ``P^{l-1}`` has the finer ``(T, H, W)`` of the lower level; it is average pooled to the
  ``(T, H, W)`` of ``P^l`` (``adaptive_avg_pool3d``; with the backbones' integer stride ratios
  ``r_t x r_h x r_w`` this is the mean over non-overlapping blocks of that size). The pooled
  ``P^{l-1}`` is both the conditioning input and the ground truth that the predictions are compared
  with, so "same position in space and time" (Sec. 3.2, A.2) is defined on this grid and ``T'`` of
  the loss's negative counts is the higher level's T.
- One MLP for all steps. "A multi-layer perceptron with one hidden layer for the prediction steps for
  leveraging their common information": a shared hidden layer, ``1x1x1 conv -> ReLU -> 1x1x1 conv``
  with ``steps * out_channels`` outputs, so each ``f_delta`` is the shared hidden layer followed by
  its own slice of the output weights. The MLP acts on each ``(t, h, w)`` independently.
- No BatchNorm: Sec. 3.2 describes a plain MLP; A.3's "batch normalization and ReLU after each
  convolutional layer" is about the prime motion block.
- ``delta`` runs over ``1 .. steps``; ``steps = T - 1`` predicts every future step ``P_{>t}`` as
  written in Sec. 3.2 (the paper gives no number of steps).
- Nothing is detached: under progressive training (Sec. 3.2) the caller freezes everything up to
  level ``l - 1``, which fixes ``P^{l-1}``.

Shapes: ``current: (N, C_l, T, H, W)``, ``previous: (N, C_{l-1}, T_{l-1}, H_{l-1}, W_{l-1})`` with
every size at least the current level's. ``predictions[:, delta - 1, :, t]`` is ``P^_{t+delta}``,
predicted from time ``t``: ``(N, steps, C_{l-1}, T, H, W)``. Entries with ``t + delta >= T`` have no
ground truth; they are computed (the MLP is pointwise) and the loss leaves them out.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class MotionPrediction(NamedTuple):
    """``predictions: (N, steps, C_{l-1}, T, H, W)``; ``targets``: pooled ``P^{l-1}``, ``(N, C_{l-1}, T, H, W)``."""

    predictions: Tensor
    targets: Tensor


class MotionPredictor(nn.Module):
    """``f_delta`` of Sec. 3.2 for ``delta = 1 .. steps``: one-hidden-layer MLP on ``[P^l_t, P^{l-1}_t]``.

    Args:
        in_channels_current: ``C_l`` of the motion features ``P^l``.
        in_channels_previous: ``C_{l-1}`` of the previous level's motion features ``P^{l-1}``.
        hidden: width of the hidden layer.
        out_channels: channels of each prediction; must equal ``in_channels_previous``, since the
            predictions are ``P^{l-1}`` compared with their ground truth by cosine similarity (eq. 2).
        steps: number of future steps predicted from each time ``t``.
    """

    def __init__(self, in_channels_current: int, in_channels_previous: int, hidden: int, out_channels: int,
                 steps: int) -> None:
        super().__init__()
        if min(in_channels_current, in_channels_previous, hidden, out_channels, steps) < 1:
            raise ValueError("channels, hidden and steps must be positive, got "
                             f"{in_channels_current}, {in_channels_previous}, {hidden}, {out_channels}, {steps}")
        if out_channels != in_channels_previous:
            raise ValueError(f"out_channels ({out_channels}) must equal in_channels_previous "
                             f"({in_channels_previous}): the predictions are the previous level's motion features")
        self.in_channels_current = in_channels_current
        self.in_channels_previous = in_channels_previous
        self.out_channels = out_channels
        self.steps = steps
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
        if current.shape[0] != previous.shape[0] or any(p < c for p, c in zip(previous.shape[2:], current.shape[2:])):
            raise ValueError(f"previous {tuple(previous.shape)} must have the batch of current "
                             f"{tuple(current.shape)} and a (T, H, W) at least as large")
        n, _, t, h, w = current.shape
        targets = F.adaptive_avg_pool3d(previous, (t, h, w))
        predictions = self.mlp(torch.cat([current, targets], dim=1))
        return MotionPrediction(predictions.view(n, self.steps, self.out_channels, t, h, w), targets)
