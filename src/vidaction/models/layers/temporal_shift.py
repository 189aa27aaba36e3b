"""Temporal shift (Lin et al., TSM, ICCV 2019): move a fraction of channels one frame in time.

On ``(N*T, C, H, W)``: channels ``[0, C/d)`` of frame ``t`` take frame ``t+1``'s values (shift
back), channels ``[C/d, 2C/d)`` take frame ``t-1``'s (shift forward), the rest stay; frames
shifted in from outside the clip are zeros. This is the semantic of the official implementation
(``shift`` in its ``ops/temporal_shift.py``), so its checkpoints load unchanged. Zero extra
parameters and multiply-accumulates.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def temporal_shift(x: Tensor, num_frames: int, fold_div: int = 8) -> Tensor:
    """Shift ``x: (N*T, C, H, W)`` along T; returns a new tensor of the same shape."""
    nt, c, h, w = x.shape
    if nt % num_frames:
        raise ValueError(f"batch dimension {nt} is not a multiple of num_frames={num_frames}")
    fold = c // fold_div
    video = x.view(nt // num_frames, num_frames, c, h, w)
    back = F.pad(video[:, 1:, :fold], (0, 0, 0, 0, 0, 0, 0, 1))
    forward = F.pad(video[:, :-1, fold:2 * fold], (0, 0, 0, 0, 0, 0, 1, 0))
    return torch.cat([back, forward, video[:, :, 2 * fold:]], dim=2).view(nt, c, h, w)


class TemporalShift(nn.Module):
    """``temporal_shift`` as a module: ``(N*T, C, H, W) -> (N*T, C, H, W)``."""

    def __init__(self, num_frames: int, fold_div: int = 8) -> None:
        super().__init__()
        if fold_div < 2:
            raise ValueError(f"fold_div must be >= 2 (two folds are shifted), got {fold_div}")
        self.num_frames = num_frames
        self.fold_div = fold_div

    def forward(self, x: Tensor) -> Tensor:
        return temporal_shift(x, self.num_frames, self.fold_div)

    def extra_repr(self) -> str:
        return f"num_frames={self.num_frames}, fold_div={self.fold_div}"
