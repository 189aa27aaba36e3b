"""HCML's preliminary motion cues (Sec. 3.3): self-supervised optical flow for frame reconstruction.

A small flow estimator on the level-1 features of adjacent frames, "5 convolutional layers that are
stacked sequentially with dense connections" (PWC-Net's optical-flow estimator), whose flow warps
video frames by bilinear interpolation; the reconstruction loss of eqs. 3-4 is in
:mod:`vidaction.losses.photometric`. The estimator is a training-only side branch.

Flow convention, used throughout: a flow ``(B, 2, H, W)`` is in pixels of the map it is defined on,
channel 0 is the horizontal (x, column) and channel 1 the vertical (y, row) displacement, and it is
*backward*: ``flow_t(x)`` says where pixel ``x`` of frame ``t`` is found in frame ``t + 1``, so frame
``t`` is reconstructed as ``I_t(x) ~ I_{t+1}(x + flow_t(x))``. Content moving right by one pixel
per frame has flow ``(+1, 0)``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def backward_warp(image: Tensor, flow: Tensor) -> tuple[Tensor, Tensor]:
    """Sample ``image`` at ``(x + u, y + v)``: ``(B, C, H, W), (B, 2, H, W) -> (B, C, H, W), (B, 1, H, W)``.

    Bilinear ``grid_sample`` with ``align_corners=True``, so pixel centres sit at integer
    coordinates ``0 .. W-1`` and an integer flow reproduces pixels exactly. ``valid`` is 1 where the
    sampling point lies inside the frame (``0 <= x + u <= W - 1`` and ``0 <= y + v <= H - 1``) and 0
    where it left it (there ``grid_sample`` blends in zeros); it carries no gradient.
    """
    if image.shape[0] != flow.shape[0] or flow.shape[1] != 2 or image.shape[2:] != flow.shape[2:]:
        raise ValueError(f"flow {tuple(flow.shape)} must be (B, 2, H, W) for image {tuple(image.shape)}")
    height, width = image.shape[2:]
    rows = torch.arange(height, dtype=flow.dtype, device=flow.device).view(1, height, 1)
    cols = torch.arange(width, dtype=flow.dtype, device=flow.device).view(1, 1, width)
    x = cols + flow[:, 0]
    y = rows + flow[:, 1]
    # max(., 1): a one-pixel axis has a single sample at coordinate 0 whatever the normalised value.
    grid = torch.stack([2 * x / max(width - 1, 1) - 1, 2 * y / max(height - 1, 1) - 1], dim=-1)
    warped = F.grid_sample(image, grid.to(image.dtype), mode="bilinear", padding_mode="zeros", align_corners=True)
    valid = (x >= 0) & (x <= width - 1) & (y >= 0) & (y <= height - 1)
    return warped, valid.unsqueeze(1).to(image.dtype)


def upsample_flow(flow: Tensor, size: tuple[int, int]) -> Tensor:
    """Resize a flow to ``size = (H, W)`` and convert it to that map's pixels.

    ``(B, 2, h, w) -> (B, 2, H, W)`` or ``(N, 2, T, h, w) -> (N, 2, T, H, W)``. Bilinear
    interpolation (``align_corners=False``: a feature pixel of stride ``s`` covers ``s`` image
    pixels), then x is multiplied by ``W / w`` and y by ``H / h``, because one feature pixel spans
    that many image pixels. This is the scale that turns flow at feature resolution into image pixels.
    """
    if flow.dim() == 5:
        return _unfold_time(upsample_flow(_fold_time(flow), size), flow.shape[0])
    height, width = size
    ratio = flow.new_tensor([width / flow.shape[-1], height / flow.shape[-2]]).view(1, 2, 1, 1)
    return F.interpolate(flow, size=(height, width), mode="bilinear", align_corners=False) * ratio


def reconstruct_frames(frames: Tensor, flow: Tensor) -> tuple[Tensor, Tensor]:
    """Warp frame ``t + 1`` back to ``t`` for every ``t < T - 1`` (the ``\\hat I_t`` of eq. 3).

    ``frames: (N, C, T, H, W)``, ``flow: (N, 2, T-1, h, w)`` (e.g. :class:`FlowEstimator`'s output
    at feature resolution, upsampled here with :func:`upsample_flow`) -> ``reconstructed:
    (N, C, T-1, H, W)``, the estimate of ``frames[:, :, :-1]``, and ``valid: (N, 1, T-1, H, W)``.
    """
    n, _, t, height, width = frames.shape
    if flow.dim() != 5 or flow.shape[:3] != (n, 2, t - 1):
        raise ValueError(f"flow {tuple(flow.shape)} must be (N, 2, T-1, h, w) for frames {tuple(frames.shape)}")
    flow = upsample_flow(flow, (height, width))
    warped, valid = backward_warp(_fold_time(frames[:, :, 1:]), _fold_time(flow))
    return _unfold_time(warped, n), _unfold_time(valid, n)


class FlowEstimator(nn.Module):
    """PWC-Net-style densely connected flow estimator on adjacent-frame features (HCML Sec. 3.3).

    ``features: (N, C, T, H, W) -> flow: (N, 2, T-1, H, W)``, where ``flow[:, :, t]`` is the
    backward flow from frame ``t`` to ``t + 1`` in feature pixels (see the module docstring). The
    last frame has no successor, so it gets no flow (``T - 1`` pairs).

    Each pair is the channel concatenation ``[F_t, F_{t+1}]`` (``2 * in_channels``). Each 3x3 conv
    layer sees that input together with the outputs of all layers before it (DenseNet connections,
    as in PWC-Net's estimator), followed by LeakyReLU(0.1); a final 3x3 conv maps everything to the
    2 flow channels with no activation. ``hidden`` defaults to PWC-Net's widths (128, 128, 96, 64,
    32) halved. Decisions: docs/papers/hcml.md#flow-estimator.
    """

    def __init__(self, in_channels: int, hidden: Sequence[int] = (64, 64, 48, 32, 16),
                 negative_slope: float = 0.1) -> None:
        super().__init__()
        channels = 2 * in_channels
        self.layers = nn.ModuleList()
        for width in hidden:
            self.layers.append(nn.Sequential(nn.Conv2d(channels, width, 3, padding=1),
                                             nn.LeakyReLU(negative_slope, inplace=True)))
            channels += width
        self.predict_flow = nn.Conv2d(channels, 2, 3, padding=1)

    def forward(self, features: Tensor) -> Tensor:
        n, _, t = features.shape[:3]
        if t < 2:
            raise ValueError(f"flow needs at least two frames, got T={t}")
        pairs = torch.cat([features[:, :, :-1], features[:, :, 1:]], dim=1)
        x = _fold_time(pairs)
        for layer in self.layers:
            x = torch.cat([x, layer(x)], dim=1)
        return _unfold_time(self.predict_flow(x), n)


def _fold_time(x: Tensor) -> Tensor:
    """``(N, C, T, H, W) -> (N*T, C, H, W)``."""
    return x.transpose(1, 2).flatten(0, 1)


def _unfold_time(x: Tensor, n: int) -> Tensor:
    """``(N*T, C, H, W) -> (N, C, T, H, W)``."""
    return x.view(n, -1, *x.shape[1:]).transpose(1, 2)
