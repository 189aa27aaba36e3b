"""Non-local block, embedded Gaussian (Wang et al., CVPR 2018), the video baseline of W3's Table 6.

``z = x + BN(W_z (softmax(theta(x)^T phi(x)) g(x)))`` over all ``T*H*W`` positions, with
``theta, phi, g`` 1x1x1 convs to ``C/2`` channels and ``phi, g`` max-pooled 2x2 in space (the
"sub-sampling" of Sec. 3.3 of that paper). The last BatchNorm starts at zero scale so the block is
the identity at initialisation, which keeps ImageNet-initialised backbones intact.
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
        self.theta = nn.Conv3d(channels, inner, 1)
        self.phi = nn.Conv3d(channels, inner, 1)
        self.g = nn.Conv3d(channels, inner, 1)
        self.pool = nn.MaxPool3d((1, 2, 2)) if subsample else nn.Identity()
        self.out = nn.Conv3d(inner, channels, 1)
        self.bn = nn.BatchNorm3d(channels)
        nn.init.zeros_(self.bn.weight)

    def forward(self, x: Tensor) -> Tensor:
        video = to_5d(x, self.num_frames)
        n, c, t, h, w = video.shape
        query = self.theta(video).flatten(2)
        key = self.pool(self.phi(video)).flatten(2)
        value = self.pool(self.g(video)).flatten(2)
        affinity = torch.softmax(query.transpose(1, 2) @ key, dim=-1)
        context = (value @ affinity.transpose(1, 2)).view(n, -1, t, h, w)
        return from_5d(video + self.bn(self.out(context)), x)
