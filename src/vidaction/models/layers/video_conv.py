"""The conv types of the video ResNets: how one residual block's convs see time.

As torchvision builds r3d, mc3 and r(2+1)d from one ``VideoResNet`` with different ``conv_makers``
(``torchvision/models/video/resnet.py``), :class:`ConvType` is the per-block choice from which
:mod:`vidaction.models.backbones.video_resnet` builds every ResNet here:

==============  =========================================  =====================================
conv type       block convs                                used by
==============  =========================================  =====================================
``FRAME``       ``1x1 -> 3x3 -> 1x1`` (Conv2d)             TSN / TSM (frames in the batch)
``SPATIAL``     ``1x1x1 -> 1x3x3 -> 1x1x1``                I3D's plain blocks, R2D-50
``INFLATED``    ``3x1x1 -> 1x3x3 -> 1x1x1``                I3D's inflated blocks (3x1x1 style)
``FACTORISED``  ``1x1x1 -> 3x1x1 -> 1x3x3 -> 1x1x1``       R(2+1)D-101's res4/res5 (HCML Table 5)
==============  =========================================  =====================================

Kernels, strides and paddings are ``(t, h, w)`` triples for every type. ``dims=2`` builds
``nn.Conv2d`` / ``nn.BatchNorm2d`` / ``nn.MaxPool2d`` on frames folded into the batch,
``(N*T, C, H, W)``, and refuses a time entry other than 1; ``dims=3`` builds the 3D layers on
clips ``(N, C, T, H, W)``.

Initialisation follows the papers' code, and differs: a 3D conv is Kaiming-initialised (fan-out)
when built (MMAction2, SlowFast); a 2D conv keeps PyTorch's default until TSN/TSM's Kaiming pass
over the finished network (their ``_init_weights``), which draws its random numbers in module order.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

Triple = tuple[int, int, int]


@dataclass(frozen=True)
class ConvType:
    """How the convs of one residual block see time.

    Args:
        dims: 2 for ``Conv2d`` on ``(N*T, C, H, W)``, 3 for ``Conv3d`` on ``(N, C, T, H, W)``.
        first_t: temporal kernel of the block's first conv, ``first_t x 1 x 1`` (I3D's inflation: 3).
        temporal_conv: a separate ``3x1x1`` conv between the first ``1x1x1`` and the ``1x3x3`` conv
            (R(2+1)D as HCML's Table 5 lists it).
    """

    dims: int = 3
    first_t: int = 1
    temporal_conv: bool = False

    def _spatial_only(self, *triples: Triple) -> None:
        if self.dims == 2 and any(triple[0] != 1 for triple in triples):
            raise ValueError(f"a frame layer (dims=2) has no time axis: got (t, h, w) triples {list(triples)}")

    def conv(self, in_channels: int, out_channels: int, kernel: Triple, stride: Triple = (1, 1, 1),
             padding: Triple = (0, 0, 0)) -> nn.Conv2d | nn.Conv3d:
        """A bias-free conv: ``(.., C_in, [T,] H, W) -> (.., C_out, [T / s_t,] H / s, W / s)``."""
        if self.dims == 2:
            self._spatial_only(kernel, stride)
            return nn.Conv2d(in_channels, out_channels, kernel[1:], stride[1:], padding[1:], bias=False)
        conv = nn.Conv3d(in_channels, out_channels, kernel, stride, padding, bias=False)
        nn.init.kaiming_normal_(conv.weight, mode="fan_out", nonlinearity="relu")
        return conv

    def norm(self, channels: int) -> nn.BatchNorm2d | nn.BatchNorm3d:
        return nn.BatchNorm2d(channels) if self.dims == 2 else nn.BatchNorm3d(channels)

    def max_pool(self, kernel: Triple, stride: Triple, padding: Triple = (0, 0, 0)) -> nn.MaxPool2d | nn.MaxPool3d:
        if self.dims == 2:
            self._spatial_only(kernel, stride)
            return nn.MaxPool2d(kernel[1:], stride[1:], padding[1:])
        return nn.MaxPool3d(kernel, stride, padding)


FRAME = ConvType(dims=2)
SPATIAL = ConvType()
INFLATED = ConvType(first_t=3)
FACTORISED = ConvType(temporal_conv=True)
