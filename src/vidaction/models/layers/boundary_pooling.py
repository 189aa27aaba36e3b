"""Boundary max pooling (AFSD, Lin et al., CVPR 2021, Sec. 3.3; GAF Sec. III-A builds on it).

``boundary_max_pool(features, segments)`` gives, for every segment ``n`` and channel ``c``, the
maximum of ``features[b, c, t]`` over the segment's region of positions: ``(B, C, T), (B, N, 2) ->
(B, C, N)``. AFSD pools the start region of each coarse proposal with the first half of the
channels and the end region with the second half; the detector head makes those two calls.

Region semantics mirror AFSD's CUDA op (``AFSD/prop_pooling/boundary_max_pooling_kernel.cu``,
``BoundaryPoolingForward``), where the caller has already rounded the coordinates with
``torch.round``:

- each coordinate is truncated toward zero (the kernel's ``static_cast<int>``) and clamped to
  ``[0, length - 1]``, so regions reaching outside the sequence are cut at its ends;
- the region is the inclusive range ``[start, end]``; an empty one (``end < start`` after
  clamping) pools the single position ``start``;
- ``length`` is ``T``, or a per-sample valid length (``lengths``) so padded steps are never pooled;
- NaN coordinates count as 0 and infinite ones as the nearest end.

The gradient goes to the first position of the maximum (the kernel's strict ``>`` scan), and a
position that is the maximum of several segments receives the sum of their gradients. Segments get
no gradient (they are positions), as in AFSD. AFSD's backward kernel reads ``tscale`` from
``grad_output.size(2)`` (= ``N``), which routes gradients to wrong positions whenever ``N != T``
(its frame-level pooling: ``T = 256`` frames, ``N`` = one level's locations); here gradients are
exact for any ``N`` and ``T``.

Implementation: a sparse table of running arg-maxima (level ``k`` holds the arg-max of every
window of ``2**k`` positions), built with ``floor(log2 T)`` vectorised steps; a region's arg-max is
the better of two overlapping power-of-two windows, and the output is a ``gather`` of the features
at it, so autograd's backward is a scatter-add to exactly that position. Memory is
``O(B * C * T * (floor(log2 T) + 1))`` int64 indices (no gradient) plus ``(B, C, N)`` outputs, never
a ``(B, C, N, T)`` tensor; work is ``O(B * C * (T log T + N))``. Pure PyTorch, so it runs on any
device and dtype.
"""

from __future__ import annotations

import torch
from torch import Tensor


def boundary_max_pool(features: Tensor, segments: Tensor, lengths: Tensor | None = None) -> Tensor:
    """Max of ``features`` over each segment's region: ``(B, C, T), (B, N, 2) -> (B, C, N)``.

    ``segments[b, n] = [start, end]`` in positions of ``features`` (fractional values are truncated
    toward zero, see the module docstring). ``lengths``: optional ``(B,)`` valid lengths; regions are
    clamped to ``[0, lengths[b] - 1]`` (default ``T``).
    """
    if features.dim() != 3:
        raise ValueError(f"features {tuple(features.shape)} must be (B, C, T)")
    batch, channels, steps = features.shape
    if segments.dim() != 3 or segments.shape[0] != batch or segments.shape[2] != 2:
        raise ValueError(f"segments {tuple(segments.shape)} must be (B, N, 2) with B = {batch}")
    if steps == 0:
        raise ValueError("features have no positions (T = 0)")
    starts, ends = _region_bounds(segments, steps, lengths, features.device)
    with torch.no_grad():
        argmax = _region_argmax(features.detach(), starts, ends)
    return features.gather(2, argmax)


def start_end_max_pool(features: Tensor, start_regions: Tensor, end_regions: Tensor,
                       lengths: Tensor | None = None) -> Tensor:
    """AFSD's two-region pooling: ``(B, 2D, T), (B, N, 2), (B, N, 2) -> (B, 2D, N)``.

    Channels ``[0, D)`` are pooled over each segment's start region and ``[D, 2D)`` over its end
    region, the channel layout of AFSD's kernel (``seg_type = c / (channels / 2)`` picks columns
    0-1 or 2-3 of its ``(B, N, 4)`` segments).
    """
    if features.dim() != 3 or features.shape[1] % 2:
        raise ValueError(f"features {tuple(features.shape)} must be (B, 2D, T) with an even channel count")
    half = features.shape[1] // 2
    return torch.cat([boundary_max_pool(features[:, :half], start_regions, lengths),
                      boundary_max_pool(features[:, half:], end_regions, lengths)], dim=1)


def _region_bounds(segments: Tensor, steps: int, lengths: Tensor | None, device: torch.device) -> tuple[Tensor, Tensor]:
    """Integer ``(B, N)`` inclusive ``[start, end]`` with the kernel's truncation, clamping and empty rule."""
    if lengths is None:
        last = torch.full((segments.shape[0], 1), steps - 1, device=device, dtype=torch.float64)
    else:
        if lengths.shape != (segments.shape[0],):
            raise ValueError(f"lengths {tuple(lengths.shape)} must be (B,) = ({segments.shape[0]},)")
        last = (lengths.to(device=device, dtype=torch.float64).clamp(1, steps) - 1).unsqueeze(1)
    coords = torch.nan_to_num(segments.detach().to(device=device, dtype=torch.float64), nan=0.0)
    # Clamping to integer bounds first, then truncating, equals the kernel's truncate-then-clamp.
    zero = torch.zeros_like(last)
    starts = torch.clamp(coords[..., 0], min=zero, max=last).trunc().long()
    ends = torch.clamp(coords[..., 1], min=zero, max=last).trunc().long()
    return starts, torch.maximum(ends, starts)


def _region_argmax(features: Tensor, starts: Tensor, ends: Tensor) -> Tensor:
    """``(B, C, N)`` first arg-max of ``features`` over ``[starts, ends]`` via a sparse table."""
    batch, channels, steps = features.shape
    num_levels = steps.bit_length()  # floor(log2 T) + 1 window sizes 1, 2, ..., 2**floor(log2 T)
    values = features
    index = torch.arange(steps, device=features.device).expand(batch, channels, steps)
    tables = [index]
    for level in range(1, num_levels):
        half = 1 << (level - 1)
        count = steps - (1 << level) + 1  # windows of 2**level that fit; later entries are never read
        left_wins = values[..., :count] >= values[..., half:half + count]
        values = torch.cat([torch.where(left_wins, values[..., :count], values[..., half:half + count]),
                            values[..., count:]], dim=-1)
        index = torch.cat([torch.where(left_wins, index[..., :count], index[..., half:half + count]),
                           index[..., count:]], dim=-1)
        tables.append(index)
    table = torch.stack(tables, dim=2).view(batch, channels, num_levels * steps)

    sizes = ends - starts + 1
    powers = torch.tensor([1 << k for k in range(1, num_levels)], device=features.device)
    level = (sizes.unsqueeze(-1) >= powers).sum(-1)  # floor(log2 size), exact in integers
    span = torch.ones_like(level) << level
    left = (level * steps + starts).unsqueeze(1).expand(batch, channels, -1)
    right = (level * steps + ends - span + 1).unsqueeze(1).expand(batch, channels, -1)
    left_arg, right_arg = table.gather(2, left), table.gather(2, right)
    # Ties go left: the left window starts first, so it holds the first maximum when it holds one.
    left_wins = features.gather(2, left_arg) >= features.gather(2, right_arg)
    return torch.where(left_wins, left_arg, right_arg)
