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
4. ``g``: a 1x1x1 convolution from ``C_p`` back to ``C`` channels (Sec. 3.4), then BN.

Decisions where the paper is silent:
- ``P`` has ``C_p = C~`` channels (``motion_channels``) by default, so ``g`` mirrors the reduction
  and the motion features stay compact. The backbones use ``motion_channels = 2 C~`` instead: with
  it the prime motion blocks after res2-res4 cost 1.18x (R2D-50) and 1.11x (R(2+1)D-101) of the
  backbone, Table 2's ratios, where ``C_p = C~`` gives 1.10x and 1.06x (see BENCHMARKS.md).
- The BN after ``g`` (A.3's "BN after each convolutional layer") starts as every other BN of the
  backbones, scale 1 and shift 0 (they do not zero-initialise residual branches either), so
  ``Z^l = F^l + g^l(P^l)`` carries the motion features from the first step. HCML learns the levels
  bottom up, each from backbone features into which the motion of the levels below is integrated
  (Secs. 3.1, 3.2). With a zero scale ``g(P) = 0``: in the self-supervised phase only level
  ``l + 1``'s loss can move ``g^l`` and no loss reaches ``g`` of the top motion level, which would
  stay exactly zero there (and in a ``hcml_pretrain`` export).
  :meth:`vidaction.models.motion.hcml.HCMLNet.progressive_stages` trains ``g^l`` in level
  ``l + 1``'s stage. The cost: ImageNet weights loaded into a backbone with these blocks no longer
  compute the plain network at initialisation (HCML trains from scratch, Sec. 4.1). No ReLU follows
  ``g`` or the sum: ``Z = F + g(P)`` exactly as in Sec. 3.4.
- ``C~ = max(C // beta, 1)``; the convolutions have no bias, since a BN follows each; the ``k x k``
  convolution pads ``k // 2`` to keep ``H x W``.
- Frames are folded into the batch, ``(N*T, C, H, W)``, throughout: a 1x1x1 convolution is a 1x1
  Conv2d per frame and BatchNorm2d over ``N*T*H*W`` has BatchNorm3d's statistics, and this is the
  R2D backbones' own layout; T matters only for the cost-volume pairs.

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
