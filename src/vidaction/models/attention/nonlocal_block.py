"""Non-local block, embedded Gaussian (Wang et al., CVPR 2018), the video baseline of W3's Table 6.

``z = x + W(softmax(theta(x)^T phi(x)) g(x))`` over all ``T*H*W`` positions, with ``theta, phi, g``
1x1x1 convs to ``C/2`` channels, ``phi`` and ``g`` max-pooled 1x2x2 (the "sub-sampling" of Sec. 3.3 of
that paper), and ``W`` a 1x1x1 conv back to ``C`` followed by BatchNorm whose scale and shift start
at zero, so the block is the identity at initialisation and ImageNet-initialised backbones stay
intact. Parameter names follow the official TSM non-local code (``theta``, ``phi.0``, ``g.0``,
``W.0``, ``W.1``) so its TSM-NL checkpoints load.
Shapes: ``(N*T, C, H, W)`` with ``num_frames`` or ``(N, C, T, H, W)``; the output has the input's.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from vidaction.models.attention.w3 import from_5d, to_5d


class NonLocalBlock(nn.Module):
    """Embedded-Gaussian non-local operation with a residual connection."""

    def __init__(self, channels: int, num_frames: int | None = None, inner_channels: int | None = None,
                 subsample: bool = True) -> None:
        super().__init__()
        inner = inner_channels or max(channels // 2, 1)
        self.num_frames = num_frames
        pool = [nn.MaxPool3d((1, 2, 2))] if subsample else []
        self.theta = nn.Conv3d(channels, inner, 1)
        self.phi = nn.Sequential(nn.Conv3d(channels, inner, 1), *pool)
        self.g = nn.Sequential(nn.Conv3d(channels, inner, 1), *pool)
        self.W = nn.Sequential(nn.Conv3d(inner, channels, 1), nn.BatchNorm3d(channels))
        nn.init.zeros_(self.W[1].weight)
        nn.init.zeros_(self.W[1].bias)

    def forward(self, x: Tensor) -> Tensor:
        video = to_5d(x, self.num_frames)
        n, c, t, h, w = video.shape
        query = self.theta(video).flatten(2)
        key = self.phi(video).flatten(2)
        value = self.g(video).flatten(2)
        affinity = torch.softmax(query.transpose(1, 2) @ key, dim=-1)
        context = (value @ affinity.transpose(1, 2)).view(n, -1, t, h, w)
        return from_5d(video + self.W(context), x)
