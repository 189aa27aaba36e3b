"""CBAM (Woo et al., ECCV 2018): per-frame channel then spatial attention, the image baseline of
W3's Table 6. No temporal reasoning: each frame of ``(N*T, C, H, W)`` (or each ``t`` of
``(N, C, T, H, W)``) is attended on its own.

Channel: shared MLP ``C -> C/r -> C`` on spatially average- and max-pooled descriptors, summed,
sigmoid. Spatial: 7x7 conv over the channel-wise average and max maps, BatchNorm (as in CBAM's
reference), sigmoid. ``last_masks`` holds ``channel: (N*T, C)`` and ``spatial: (N*T, 1, H, W)``
for 4D input, or ``(N, C, T)`` and ``(N, 1, T, H, W)`` for 5D input. ``inplace=True`` multiplies
the masks into a 4D input itself when no gradient is recorded (inference), saving two full-size
allocations; backbones, which own that tensor, turn it on.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from vidaction.models.attention.w3 import W3Masks, to_5d


class CBAM(nn.Module):
    """Convolutional block attention module on video features, frame by frame."""

    def __init__(self, channels: int, reduction: int = 16, spatial_kernel: int = 7, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = inplace
        hidden = max(channels // reduction, 1)
        self.spatial_kernel = spatial_kernel
        self.mlp = nn.Sequential(nn.Linear(channels, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, channels))
        self.spatial_conv = nn.Conv2d(2, 1, spatial_kernel, padding=spatial_kernel // 2, bias=False)
        self.spatial_bn = nn.BatchNorm2d(1)
        self.last_masks: W3Masks | None = None

    def forward(self, x: Tensor) -> Tensor:
        frames = x if x.dim() == 4 else to_5d(x, None).transpose(1, 2).flatten(0, 1)
        in_place = self.inplace and x.dim() == 4 and not (torch.is_grad_enabled() and x.requires_grad)
        channel = torch.sigmoid(self.mlp(frames.mean(dim=(2, 3))) + self.mlp(frames.amax(dim=(2, 3))))
        frames = frames.mul_(channel[:, :, None, None]) if in_place else frames * channel[:, :, None, None]
        pooled = torch.cat([frames.mean(dim=1, keepdim=True), frames.amax(dim=1, keepdim=True)], dim=1)
        spatial = torch.sigmoid(self.spatial_bn(self.spatial_conv(pooled)))
        frames = frames.mul_(spatial) if in_place else frames * spatial
        if x.dim() == 4:
            self.last_masks = W3Masks(channel, spatial)
            return frames
        n, _, t = x.shape[:3]
        self.last_masks = W3Masks(channel.view(n, t, -1).transpose(1, 2),
                                  spatial.view(n, t, 1, *spatial.shape[2:]).transpose(1, 2))
        return to_5d(frames, t)
