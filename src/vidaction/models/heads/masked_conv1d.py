"""Same-padded 1-D convolutions on masked sequences, AFSD's ``Unit1D`` blocks (Lin et al., CVPR 2021,
``AFSD/common/layers.py``): the building blocks of :mod:`vidaction.models.heads.afsd`.

Shapes: a sequence ``x: (B, C, T)`` with its ``(B, T)`` bool validity mask ``mask`` (a prefix of each
window, padding at the end). Convolutions use TensorFlow "same" padding as AFSD's ``Unit1D``: a
``k = 3, stride 2`` conv on an even length pads one step on the right only, and the output has
``ceil(T / stride)`` steps; a strided sequence's mask is ``mask[:, ::stride]`` (a strided step is
valid if its first input step is), and features at invalid steps are zeroed after every block.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from vidaction.models.layers import padding


def same_padding(length: int, kernel_size: int, stride: int) -> tuple[int, int]:
    """TensorFlow "same" padding ``(left, right)`` of a 1-D conv (AFSD ``Unit1D.compute_pad``):
    :func:`vidaction.models.layers.padding.same_padding` of one axis."""
    return padding.same_padding((length,), (kernel_size,), (stride,))


class SameConv1d(nn.Conv1d):
    """``nn.Conv1d`` with TensorFlow "same" padding: ``(B, C, T) -> (B, C', ceil(T / stride))``."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 1, stride: int = 1):
        super().__init__(in_channels, out_channels, kernel_size, stride=stride)

    def forward(self, x: Tensor) -> Tensor:
        return super().forward(F.pad(x, same_padding(x.shape[-1], self.kernel_size[0], self.stride[0])))


class ConvNormAct1d(nn.Module):
    """Same-padded conv + GroupNorm + ReLU on a masked sequence: ``(B, C, T), (B, T) -> (B, C', T'), (B, T')``.

    ``T' = ceil(T / stride)``; the output mask is ``mask[:, ::stride]`` and invalid steps are zeroed.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, stride: int = 1,
                 norm_groups: int = 32):
        super().__init__()
        if out_channels % norm_groups:
            raise ValueError(f"GroupNorm({norm_groups}) needs channels divisible by it, got {out_channels}")
        self.conv = SameConv1d(in_channels, out_channels, kernel_size, stride)
        self.norm = nn.GroupNorm(norm_groups, out_channels)

    def forward(self, x: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        mask = mask[:, ::self.conv.stride[0]]
        return F.relu(self.norm(self.conv(x))) * mask.unsqueeze(1).to(x.dtype), mask


class ConvTower(nn.Module):
    """``num_layers`` stride-1 ``k = 3`` :class:`ConvNormAct1d` blocks (AFSD's loc/conf towers):
    ``(B, C, T), (B, T) -> (B, C, T)``."""

    def __init__(self, channels: int, num_layers: int = 2, norm_groups: int = 32):
        super().__init__()
        self.layers = nn.ModuleList(ConvNormAct1d(channels, channels, 3, 1, norm_groups) for _ in range(num_layers))

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        for layer in self.layers:
            x, _ = layer(x, mask)
        return x
