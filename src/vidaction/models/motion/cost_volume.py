"""HCML's partial cost volume (Sec. 3.2, eq. 1; appendix A.3), after PWC-Net's correlation layer.

``cv(x, y, dx, dy) = sim(F_t(x, y), F_{t+1}(x + dx, y + dy))`` with the cosine similarity
``sim(u, v) = u^T v / (||u|| ||v||)``, searched over a strided displacement grid
``dx, dy in {-r, -r + s, ..., r}`` with ``r = s * floor(d / s)`` (``r = d`` when ``s`` divides
``d``), so ``M = (2 * floor(d / s) + 1)^2`` channels: 49 for the paper's ``d = 6, s = 2``, a 13x13
region searched with stride 2.

Channel order: row-major over the grid, ``dy`` outer and ``dx`` inner, i.e. channel
``k = i * n + j`` holds ``(dy, dx) = (-r + i * s, -r + j * s)`` with ``n = 2 * floor(d / s) + 1``;
:func:`cost_volume_displacements` lists them and the zero displacement is the centre channel
``M // 2``. ``x``/``dx`` is the horizontal (column, W) axis and ``y``/``dy`` the vertical (row, H)
one, as in :mod:`vidaction.models.motion.flow`: content moving by ``(dy, dx)`` from the first map to
the second peaks at that displacement's channel. A displaced position outside the frame has cost 0.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

# Norms below this count as zero vectors (cosine 0, finite gradient); 1e-6 is still representable
# in float16, unlike F.normalize's default 1e-12.
_NORM_EPS = 1e-6


def cost_volume_displacements(max_displacement: int = 6, stride: int = 2) -> list[tuple[int, int]]:
    """The ``(dy, dx)`` of each cost-volume channel, in channel order (``dy`` outer, ``dx`` inner)."""
    if max_displacement < 0 or stride < 1:
        raise ValueError(f"need max_displacement >= 0 and stride >= 1, got {max_displacement}, {stride}")
    steps = max_displacement // stride
    offsets = [k * stride for k in range(-steps, steps + 1)]
    return [(dy, dx) for dy in offsets for dx in offsets]


def cost_volume(first: Tensor, second: Tensor, max_displacement: int = 6, stride: int = 2) -> Tensor:
    """Cosine cost volume between two feature maps: ``(B, C, H, W), (B, C, H, W) -> (B, M, H, W)``.

    Channel ``k`` compares ``first`` at ``(x, y)`` with ``second`` at ``(x + dx, y + dy)`` for the
    ``k``-th displacement of :func:`cost_volume_displacements`; see the module docstring.
    """
    if first.dim() != 4 or first.shape != second.shape:
        raise ValueError(f"first {tuple(first.shape)} and second {tuple(second.shape)} must be equal (B, C, H, W)")
    return _correlate(_unit(first), _unit(second), max_displacement, stride)


def temporal_cost_volume(x: Tensor, max_displacement: int = 6, stride: int = 2) -> Tensor:
    """Cost volumes of adjacent frames: ``(N, C, T, H, W) -> (N, M, T, H, W)``.

    Frame ``t`` is paired with ``t + 1`` and the last frame with itself (HCML Sec. 3.2, the pairs
    ``F~*``), so T is kept; the last frame's centre channel is 1 wherever its features are non-zero.
    """
    if x.dim() != 5:
        raise ValueError(f"x {tuple(x.shape)} must be (N, C, T, H, W)")
    n, c, t, h, w = x.shape
    unit = _unit(x.transpose(1, 2).reshape(n * t, c, h, w))
    following = torch.arange(1, t + 1, device=x.device).clamp_(max=t - 1)
    second = unit.view(n, t, c, h, w)[:, following].reshape(n * t, c, h, w)
    volume = _correlate(unit, second, max_displacement, stride)
    return volume.view(n, t, -1, h, w).transpose(1, 2)


def _unit(x: Tensor) -> Tensor:
    return F.normalize(x, dim=1, eps=_NORM_EPS)


def _correlate(first: Tensor, second: Tensor, max_displacement: int, stride: int) -> Tensor:
    """Channel-wise dot products of ``first`` with ``second`` shifted by each displacement.

    One ``(B, C, H, W)`` product at a time against a zero-padded ``second``, so memory stays at
    ``O(B * C * H * W + B * M * H * W)`` and never holds a ``(B, C, M, H, W)`` tensor.
    """
    displacements = cost_volume_displacements(max_displacement, stride)
    radius = max(abs(dy) for dy, _ in displacements)
    height, width = first.shape[-2:]
    padded = F.pad(second, (radius, radius, radius, radius))
    return torch.stack([
        (first * padded[:, :, radius + dy:radius + dy + height, radius + dx:radius + dx + width]).sum(dim=1)
        for dy, dx in displacements
    ], dim=1)
