"""HCML's prime motion block (Yang et al., ECCV 2020, Sec. 3.2 and appendix A.3, Fig. 5).

A residual block that turns backbone features ``F`` into motion features ``P`` and fuses them back,
``Z = F + g(P)`` (Secs. 3.1 and 3.4):

1. ``F~``: a 1x1x1 convolution reduces ``C`` to ``C~ = C / beta`` channels, then BN + ReLU (Sec. 3.2).
2. Cost volume of the adjacent pairs ``(F~_t, F~_{t+1})``, the last frame paired with itself, with
   the cosine similarity of eq. 1 over ``M = (2 * floor(d / s) + 1)^2`` displacements
   (:func:`~vidaction.models.motion.cost_volume.temporal_cost_volume`), then BN + ReLU (A.3).
3. ``P``: ``[cost volume, F~]`` concatenated over channels, one ``k x k`` 2D convolution per frame,
   then BN + ReLU (A.3: "we concatenate the two features in channels and then perform a 2D
   convolution. We use batch normalization and ReLU after each convolutional layer and cost volume
   layer").
4. ``g``: a 1x1x1 convolution from ``C_p`` back to ``C`` channels (Sec. 3.4), then BN (scale 1,
   shift 0 at initialisation, so ``Z`` carries ``g(P)`` from the first step); no ReLU after the sum.

``P`` has ``C_p = motion_channels`` (default ``C~ = max(C // beta, 1)``) channels; frames are folded
into the batch throughout. Decisions: docs/papers/hcml.md#prime-motion-block.

Shapes: ``x`` is ``(N*T, C, H, W)`` with ``num_frames=T`` or ``(N, C, T, H, W)``; the output ``Z`` has
the input's shape. After a forward, ``last_motion`` holds ``P: (N, C_p, T, H, W)``, with its
gradient (the contrastive loss of Sec. 3.2 and the flow reconstruction of Sec. 3.3 train through it).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from vidaction.models.attention.w3 import from_5d, to_5d
from vidaction.models.motion.cost_volume import cost_volume_displacements, temporal_cost_volume


def _conv_bn(in_channels: int, out_channels: int, kernel_size: int, relu: bool) -> nn.Sequential:
    layers = [nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2, bias=False),
              nn.BatchNorm2d(out_channels)]
    return nn.Sequential(*layers, nn.ReLU(inplace=True)) if relu else nn.Sequential(*layers)


class PrimeMotionBlock(nn.Module):
    """Cost-volume motion features fused back residually: ``Z = F + g(P)``.

    Args:
        channels: C of the backbone feature map ``F``.
        num_frames: T, needed for the ``(N*T, C, H, W)`` layout; ignored for 5D input.
        reduction: beta of Sec. 3.2, ``C~ = C // beta`` (8 in Sec. 4.1).
        max_displacement: d of the cost volume's search range (6, A.3).
        stride: s of the displacement grid (2, A.3); with d = 6 the cost volume has M = 49 channels.
        kernel_size: k of the 2D convolution over ``[cost volume, F~]`` (3; odd).
        motion_channels: ``C_p``, the channels of ``P`` (default ``C~``).

    Attributes:
        reduced_channels: ``C~``.
        motion_channels: ``C_p`` of ``P``.
        cost_channels: ``M``.
        last_motion: ``P: (N, C_p, T, H, W)`` of the last forward, ``None`` before one.
    """

    def __init__(self, channels: int, num_frames: int | None = None, reduction: int = 8,
                 max_displacement: int = 6, stride: int = 2, kernel_size: int = 3,
                 motion_channels: int | None = None) -> None:
        super().__init__()
        if reduction < 1 or kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"need reduction >= 1 and an odd kernel_size, got {reduction}, {kernel_size}")
        self.num_frames = num_frames
        self.max_displacement = max_displacement
        self.stride = stride
        self.reduced_channels = max(channels // reduction, 1)
        self.motion_channels = motion_channels or self.reduced_channels
        self.cost_channels = len(cost_volume_displacements(max_displacement, stride))
        self.reduce = _conv_bn(channels, self.reduced_channels, 1, relu=True)
        self.cost_norm = nn.Sequential(nn.BatchNorm2d(self.cost_channels), nn.ReLU(inplace=True))
        self.fuse = _conv_bn(self.cost_channels + self.reduced_channels, self.motion_channels, kernel_size,
                             relu=True)
        self.g = _conv_bn(self.motion_channels, channels, 1, relu=False)
        self.last_motion: Tensor | None = None

    def forward(self, x: Tensor) -> Tensor:
        video = to_5d(x, self.num_frames)
        n, c, t, h, w = video.shape
        frames = video.transpose(1, 2).reshape(n * t, c, h, w)
        reduced = self.reduce(frames)
        volume = temporal_cost_volume(reduced.view(n, t, -1, h, w).transpose(1, 2), self.max_displacement,
                                      self.stride)
        volume = self.cost_norm(volume.transpose(1, 2).reshape(n * t, -1, h, w))
        motion = self.fuse(torch.cat([volume, reduced], dim=1))
        self.last_motion = motion.view(n, t, -1, h, w).transpose(1, 2)
        residual = self.g(motion).view(n, t, c, h, w).transpose(1, 2)
        return from_5d(video + residual, x)
