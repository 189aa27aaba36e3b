"""AFSD's coarse feature pyramid (Lin et al., CVPR 2021, Sec. 3.2, ``AFSD/thumos14/BDNet.py``'s
``CoarsePyramid``): backbone maps to the levels the detector's towers read.

Every input map is projected to ``channels`` (512) by a conv whose kernel covers its whole spatial
extent (:class:`InputProjection`: ``(1, 6, 6)`` on I3D's Mixed_4f and ``(1, 3, 3)`` on Mixed_5c for
96 px crops; a ``1``-tap conv on ``(B, C, T)`` features), GroupNorm(32), ReLU. Each input level adds
the nearest-upsampled projection of the next coarser input (AFSD: level 0 = Mixed_4f + Mixed_5c);
further levels are stride-2 ``k = 3`` convs + GroupNorm + ReLU on the previous level
(:mod:`~vidaction.models.heads.masked_conv1d`). For T = 256 frames with I3D's Mixed_4f (832 ch,
T/4 = 64 steps) and Mixed_5c (1024 ch, T/8 = 32): levels of 64, 32, 16, 8, 4, 2 locations with
strides 4, 8, 16, 32, 64, 128 frames (126 locations in all).

What the pyramid reads is public as :class:`InputSpec` (``CoarsePyramid.input_spec``), so that a
module put in front of it (GAF's attention) sizes itself without looking inside.
"""

from __future__ import annotations

from typing import NamedTuple, Sequence

import torch.nn.functional as F
from torch import Tensor, nn

from vidaction.models.heads.masked_conv1d import ConvNormAct1d


class InputSpec(NamedTuple):
    """One input map of the pyramid: ``channels`` C, temporal ``stride`` (input steps per map step)
    and ``spatial`` ``(H, W)``, or ``None`` for a ``(B, C, T)`` map."""

    channels: int
    stride: int
    spatial: tuple[int, int] | None


class InputProjection(nn.Module):
    """One backbone map to ``channels``: ``(B, C, T, H, W)`` or ``(B, C, T)`` -> ``(B, channels, T)``.

    A conv with kernel ``(1, H, W)`` and no spatial padding collapses the spatial grid (AFSD's
    ``Unit3D(kernel_shape=[1, 6, 6], padding='spatial_valid')``); ``spatial=None`` takes ``(B, C, T)``
    features through a ``1``-tap conv. Then GroupNorm + ReLU.
    """

    def __init__(self, in_channels: int, channels: int, spatial: tuple[int, int] | None = None, norm_groups: int = 32):
        super().__init__()
        self.spatial = spatial
        if spatial is None:
            self.conv: nn.Module = nn.Conv1d(in_channels, channels, 1)
        else:
            self.conv = nn.Conv3d(in_channels, channels, (1, *spatial))
        self.norm = nn.GroupNorm(norm_groups, channels)

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        if self.spatial is None:
            x = self.conv(x)
        else:
            x = self.conv(x).flatten(2)
        return F.relu(self.norm(x)) * mask.unsqueeze(1).to(x.dtype)


class CoarsePyramid(nn.Module):
    """Backbone maps to ``num_levels`` masked levels of ``channels`` (see the module docstring).

    ``forward(features, mask)``: ``features[i]`` is ``(B, C_i, ceil(T / s_i), H_i, W_i)`` (or without
    ``H, W`` where ``in_spatial[i]`` is ``None``) and ``mask`` is ``(B, T)``; returns the levels
    ``(B, channels, T_l)`` and their masks ``(B, T_l)``, finest first.

    Attributes:
        input_spec: one :class:`InputSpec` per input map, finest first.
        strides: each level's stride in input steps.
    """

    def __init__(self, in_channels: Sequence[int], in_strides: Sequence[int],
                 in_spatial: Sequence[tuple[int, int] | None] | None = None, num_levels: int = 6,
                 channels: int = 512, norm_groups: int = 32):
        super().__init__()
        if len(in_channels) != len(in_strides) or not in_channels:
            raise ValueError(f"need one stride per input, got in_channels={list(in_channels)}, "
                             f"in_strides={list(in_strides)}")
        if any(s < 1 for s in in_strides) or any(b <= a for a, b in zip(in_strides, in_strides[1:])):
            raise ValueError(f"in_strides must be positive and increasing (finest input first), got {list(in_strides)}")
        if num_levels < len(in_channels):
            raise ValueError(f"num_levels={num_levels} is fewer than the {len(in_channels)} inputs")
        spatial = list(in_spatial) if in_spatial is not None else [None] * len(in_channels)
        if len(spatial) != len(in_channels):
            raise ValueError(f"in_spatial has {len(spatial)} entries for {len(in_channels)} inputs")
        self.input_spec = tuple(InputSpec(int(c), int(s), None if hw is None else (int(hw[0]), int(hw[1])))
                                for c, s, hw in zip(in_channels, in_strides, spatial))
        self.in_strides = tuple(spec.stride for spec in self.input_spec)
        self.projections = nn.ModuleList(
            InputProjection(spec.channels, channels, spec.spatial, norm_groups) for spec in self.input_spec)
        self.downsamples = nn.ModuleList(
            ConvNormAct1d(channels, channels, 3, 2, norm_groups) for _ in range(num_levels - len(in_channels)))
        self.strides = self.in_strides + tuple(self.in_strides[-1] * 2 ** (k + 1) for k in range(len(self.downsamples)))

    def forward(self, features: Sequence[Tensor], mask: Tensor) -> tuple[list[Tensor], list[Tensor]]:
        if len(features) != len(self.projections):
            raise ValueError(f"expected {len(self.projections)} feature maps, got {len(features)}")
        projected, masks = [], []
        for i, (x, projection, stride) in enumerate(zip(features, self.projections, self.in_strides)):
            level_mask = mask[:, ::stride]
            expected_dims = 3 if projection.spatial is None else 5
            if x.dim() != expected_dims or x.shape[0] != mask.shape[0] or x.shape[2] != level_mask.shape[1]:
                raise ValueError(
                    f"features[{i}] {tuple(x.shape)} must be {expected_dims}-D with batch {mask.shape[0]} and "
                    f"ceil(T / {stride}) = {level_mask.shape[1]} steps for a mask of T = {mask.shape[1]}")
            if projection.spatial is not None and tuple(x.shape[3:]) != projection.spatial:
                raise ValueError(f"features[{i}] has spatial size {tuple(x.shape[3:])}, the projection expects "
                                 f"{projection.spatial} (in_spatial[{i}])")
            projected.append(projection(x, level_mask))
            masks.append(level_mask)
        levels = [
            (x + F.interpolate(coarser, size=x.shape[-1], mode="nearest")) * m.unsqueeze(1).to(x.dtype)
            for x, coarser, m in zip(projected, projected[1:], masks)
        ] + [projected[-1]]
        x, m = projected[-1], masks[-1]
        for downsample in self.downsamples:
            x, m = downsample(x, m)
            levels.append(x)
            masks.append(m)
        return levels, masks
