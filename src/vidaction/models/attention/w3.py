"""W3 "what-where-when" video attention (Perez-Rua et al., Sec. 3, eqs. 1-6).

``W3Attention`` refines a feature map ``F`` with a channel-temporal mask ``M^c (T, C)`` and then a
spatio-temporal mask ``M^s (T, H, W)``: ``F^c = M^c * F``, ``F^s = M^s * F^c`` (eq. 2).

Channel-temporal attention (Sec. 3.1):
    per frame, spatially average- and max-pooled descriptors pass one shared bottleneck MLP
    (``C -> C/r -> C``, ReLU), are summed and squashed (eq. 3, ``M^{c-frm}``); a two-layer 1D CNN
    with kernel ``K_{c-vid} = 3`` over the T per-frame vectors and a sigmoid give ``M^c`` (eq. 4).
Spatio-temporal attention (Sec. 3.2):
    per frame, channel-wise average and max maps are concatenated, convolved by one 7x7 conv and
    squashed (eq. 5, ``M^{s-frm}``); two 3x3x3 3D convs over the T maps and a sigmoid give ``M^s``
    (eq. 6).

The 1D CNN of eq. 4 is depthwise by default, ReLUs separate the two layers of eqs. 4 and 6, there
is no BatchNorm, and both masks start near ``mask_init = 0.95``.
Decisions: docs/papers/w3.md#w3-block and docs/papers/w3.md#mask-initialisation.

Shapes: ``x`` is ``(N*T, C, H, W)`` with ``num_frames=T`` (TSM/TSN layout) or ``(N, C, T, H, W)``
(3D CNNs); the output has the input's shape. After a forward, ``last_masks`` holds
``channel: (N, C, T)`` and ``spatial: (N, 1, T, H, W)`` (both in [0, 1], detached from nothing: they
carry gradients, which attention-guided feature refinement, eqs. 7-8, relies on).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class W3Masks(NamedTuple):
    """The two factorised masks of eq. 2."""

    channel: Tensor
    spatial: Tensor


def to_5d(x: Tensor, num_frames: int | None) -> Tensor:
    """``(N*T, C, H, W)`` -> ``(N, C, T, H, W)``; a 5D input is returned unchanged."""
    if x.dim() == 5:
        return x
    if num_frames is None:
        raise ValueError("a 4D (N*T, C, H, W) input needs num_frames")
    if x.shape[0] % num_frames:
        raise ValueError(f"batch dimension {x.shape[0]} is not a multiple of num_frames={num_frames}")
    nt, c, h, w = x.shape
    return x.view(nt // num_frames, num_frames, c, h, w).transpose(1, 2)


def from_5d(x: Tensor, like: Tensor) -> Tensor:
    """Inverse of :func:`to_5d` for a tensor shaped like ``like``."""
    if like.dim() == 5:
        return x
    return x.transpose(1, 2).reshape(like.shape)


class ChannelTemporalAttention(nn.Module):
    """``M^c`` of eqs. 3-4: ``(N, C, T, H, W) -> (N, C, T)`` in [0, 1]."""

    def __init__(self, channels: int, reduction: int = 16, temporal_kernel: int = 3,
                 temporal_mode: str = "depthwise") -> None:
        super().__init__()
        if temporal_mode not in ("depthwise", "dense"):
            raise ValueError(f"temporal_mode must be 'depthwise' or 'dense', got {temporal_mode!r}")
        hidden = max(channels // reduction, 1)
        self.frame_mlp = nn.Sequential(
            nn.Conv1d(channels, hidden, 1), nn.ReLU(inplace=True), nn.Conv1d(hidden, channels, 1)
        )
        pad = temporal_kernel // 2
        if temporal_mode == "depthwise":
            first = nn.Conv1d(channels, channels, temporal_kernel, padding=pad, groups=channels)
            second = nn.Conv1d(channels, channels, temporal_kernel, padding=pad, groups=channels)
        else:
            first = nn.Conv1d(channels, hidden, temporal_kernel, padding=pad)
            second = nn.Conv1d(hidden, channels, temporal_kernel, padding=pad)
        self.video_cnn = nn.Sequential(first, nn.ReLU(inplace=True), second)

    def forward(self, x: Tensor) -> Tensor:
        avg = x.mean(dim=(3, 4))
        peak = x.amax(dim=(3, 4))
        frame_mask = torch.sigmoid(self.frame_mlp(avg) + self.frame_mlp(peak))
        return torch.sigmoid(self.video_cnn(frame_mask))


def conv3d_by_frames(x: Tensor, conv: nn.Conv3d) -> Tensor:
    """``conv(x)`` for a stride-1, "same"-padded 3D conv on ``(N, C, T, H, W)`` with few channels,
    computed as one 2D convolution over frames stacked with their temporal neighbours.

    PyTorch's CPU Conv3d falls back to a slow unvectorised kernel for these one-channel attention
    maps; stacking the ``k_t`` neighbours as channels (``C * k_t`` of them, a small copy) lets the
    fast 2D path do the same arithmetic.
    """
    n, c, t, h, w = x.shape
    kt, kh, kw = conv.kernel_size
    padded = F.pad(x, (0, 0, 0, 0, kt // 2, kt // 2))
    windows = padded.unfold(2, kt, 1).permute(0, 2, 1, 5, 3, 4).reshape(n * t, c * kt, h, w)
    weight = conv.weight.reshape(conv.out_channels, c * kt, kh, kw)
    out = F.conv2d(windows, weight, conv.bias, padding=(kh // 2, kw // 2))
    return out.view(n, t, conv.out_channels, h, w).transpose(1, 2)


class SpatioTemporalAttention(nn.Module):
    """``M^s`` of eqs. 5-6: ``(N, C, T, H, W) -> (N, 1, T, H, W)`` in [0, 1]."""

    def __init__(self, spatial_kernel: int = 7, temporal_kernel: int = 3, hidden: int = 4) -> None:
        super().__init__()
        self.spatial_kernel = spatial_kernel
        self.frame_conv = nn.Conv3d(2, 1, (1, spatial_kernel, spatial_kernel),
                                    padding=(0, spatial_kernel // 2, spatial_kernel // 2))
        pad = temporal_kernel // 2
        self.video_cnn = nn.Sequential(
            nn.Conv3d(1, hidden, temporal_kernel, padding=pad), nn.ReLU(inplace=True),
            nn.Conv3d(hidden, 1, temporal_kernel, padding=pad),
        )

    def forward(self, x: Tensor) -> Tensor:
        pooled = torch.cat([x.mean(dim=1, keepdim=True), x.amax(dim=1, keepdim=True)], dim=1)
        frame_mask = torch.sigmoid(conv3d_by_frames(pooled, self.frame_conv))
        first, relu, second = self.video_cnn
        return torch.sigmoid(conv3d_by_frames(relu(conv3d_by_frames(frame_mask, first)), second))


class W3Attention(nn.Module):
    """Channel-temporal then spatio-temporal attention (eq. 2), a drop-in block.

    Args:
        channels: C of the feature map.
        num_frames: T, needed for the ``(N*T, C, H, W)`` layout; ignored for 5D input.
        reduction: r of the channel MLP (Sec. 3.1; 16 as in CBAM).
        temporal_kernel: ``K_{c-vid}`` of the channel 1D CNN and the 3D kernel size (3).
        spatial_kernel: kernel of the frame-level spatial conv (7).
        temporal_mode: ``"depthwise"`` (default) or ``"dense"`` 1D CNN of eq. 4.
        use_channel, use_spatial: ablations of Table 5 ("w/o TA" keeps the channel MLP of eq. 3 but
            drops temporal reasoning, see ``use_temporal``; "w/o SA" drops ``M^s``).
        use_temporal: when False the 1D CNN of eq. 4 and the 3D CNN of eq. 6 are skipped, leaving
            frame-level masks (eqs. 3 and 5 alone), i.e. CBAM-like per-frame attention.
        inplace: multiply the masks into ``x`` itself when no gradient is recorded (inference); the
            two mask products are memory-bound and allocating their outputs is most of W3's CPU
            overhead. Backbones, which own the tensor they pass, turn it on; training is unchanged.
        mask_init: the value both masks start near, in (0, 1) (0.95: near identity; 0.5: a zero bias).
    """

    def __init__(self, channels: int, num_frames: int | None = None, reduction: int = 16,
                 temporal_kernel: int = 3, spatial_kernel: int = 7, temporal_mode: str = "depthwise",
                 use_channel: bool = True, use_spatial: bool = True, use_temporal: bool = True,
                 inplace: bool = False, mask_init: float = 0.95) -> None:
        super().__init__()
        self.inplace = inplace
        if not (use_channel or use_spatial):
            raise ValueError("W3Attention needs at least one of use_channel / use_spatial")
        if not 0 < mask_init < 1:
            raise ValueError(f"mask_init must lie in (0, 1), got {mask_init}")
        self.num_frames = num_frames
        self.use_temporal = use_temporal
        self.channel = (ChannelTemporalAttention(channels, reduction, temporal_kernel, temporal_mode)
                        if use_channel else None)
        self.spatial = SpatioTemporalAttention(spatial_kernel, temporal_kernel) if use_spatial else None
        self.last_masks: W3Masks | None = None
        self._init_masks(math.log(mask_init / (1 - mask_init)))

    def _init_masks(self, logit: float) -> None:
        """Set the bias before each mask's final sigmoid so the mask starts near ``sigmoid(logit)``;
        without temporal reasoning the channel mask sums the MLP's output twice (eq. 3)."""
        with torch.no_grad():
            if self.channel is not None:
                if self.use_temporal:
                    self.channel.video_cnn[-1].bias.fill_(logit)
                else:
                    self.channel.frame_mlp[-1].bias.fill_(logit / 2)
            if self.spatial is not None:
                (self.spatial.video_cnn[-1] if self.use_temporal else self.spatial.frame_conv).bias.fill_(logit)

    def _channel_mask(self, x: Tensor) -> Tensor:
        if self.use_temporal:
            return self.channel(x)
        m = self.channel
        return torch.sigmoid(m.frame_mlp(x.mean(dim=(3, 4))) + m.frame_mlp(x.amax(dim=(3, 4))))

    def _spatial_mask(self, x: Tensor) -> Tensor:
        if self.use_temporal:
            return self.spatial(x)
        pooled = torch.cat([x.mean(dim=1, keepdim=True), x.amax(dim=1, keepdim=True)], dim=1)
        return torch.sigmoid(conv3d_by_frames(pooled, self.spatial.frame_conv))

    def forward(self, x: Tensor) -> Tensor:
        video = to_5d(x, self.num_frames)
        n, c, t, h, w = video.shape
        in_place = self.inplace and not (torch.is_grad_enabled() and video.requires_grad)
        channel_mask = video.new_ones(n, c, t)
        spatial_mask = video.new_ones(n, 1, t, h, w)
        if self.channel is not None:
            channel_mask = self._channel_mask(video)
            video = video.mul_(channel_mask[..., None, None]) if in_place else video * channel_mask[..., None, None]
        if self.spatial is not None:
            spatial_mask = self._spatial_mask(video)
            video = video.mul_(spatial_mask) if in_place else video * spatial_mask
        self.last_masks = W3Masks(channel_mask, spatial_mask)
        return from_5d(video, x)
