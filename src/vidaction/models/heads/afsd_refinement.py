"""AFSD's saliency-based refinement (Lin et al., CVPR 2021, Sec. 3.3, ``AFSD/thumos14/BDNet.py``'s
``ProposalBranch`` and ``deconv``): frame-level boundary features and the boundary max-pooling of
each coarse segment's start and end regions.

- :class:`FrameBoundaryBranch`: level 0 ``(B, C, T_0)`` nearest-upsampled to the input resolution
  ``T``, then ``k = 3, 3, 1`` conv + GroupNorm + ReLU (AFSD's ``deconv``) -> ``(B, F, T)``; channels
  ``[0, F/2)`` are the frame-level start features and ``[F/2, F)`` the end features.
- :class:`SaliencyRefinementBranch`, one for the location and one for the classification tower: a
  ``1``-tap conv to ``2P`` channels is boundary-max-pooled over each coarse segment's start region
  (first ``P``) and end region (last ``P``); the frame-level features are pooled over the same
  regions in input steps and projected to ``P``; both are concatenated with a ``1``-tap projection
  of the location's own feature (``4P``) and fused back to ``channels``.

Boundary regions (:func:`boundary_regions`, AFSD ``CoarsePyramid.forward``): for a segment of length
``l`` the start region is ``[s - max(l/10, 1), s + max(l/4, 1)]`` and the end region
``[e - max(l/4, 1), e + max(l/10, 1)]``, rounded with ``torch.round``. On a level the segment is
``[c - d_l / stride, c + d_r / stride]`` around the location index ``c`` with ``l = (d_l + d_r) /
stride``; on the frame-level features it is ``[p - d_l, p + d_r]`` around the location centre
``p = (c + 0.5) * stride`` with ``l = d_l + d_r + 1`` (both exactly as AFSD; :func:`refinement_regions`).
The head computes the regions from detached distances, so the refinement does not backpropagate
into where it looks. Refined offsets are in units of half the coarse segment length
(:func:`refine_distances`, AFSD's test-time decoding).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vidaction.models.heads.masked_conv1d import ConvNormAct1d
from vidaction.models.layers.boundary_pooling import start_end_max_pool


class FrameBoundaryBranch(nn.Module):
    """Frame-level features from level 0: ``(B, C, T_0), (B, T) -> (B, F, T)`` (AFSD's ``deconv``).

    Nearest upsampling to the input length ``T``, then ``k = 3, 3, 1`` conv + GroupNorm + ReLU blocks.
    """

    def __init__(self, channels: int, frame_channels: int = 512, norm_groups: int = 32):
        super().__init__()
        if frame_channels % 2:
            raise ValueError(f"frame_channels must be even (start and end halves), got {frame_channels}")
        self.blocks = nn.ModuleList([
            ConvNormAct1d(channels, frame_channels, 3, 1, norm_groups),
            ConvNormAct1d(frame_channels, frame_channels, 3, 1, norm_groups),
            ConvNormAct1d(frame_channels, frame_channels, 1, 1, norm_groups),
        ])

    def forward(self, level0: Tensor, frame_mask: Tensor) -> Tensor:
        x = F.interpolate(level0, size=frame_mask.shape[1], mode="nearest")
        for block in self.blocks:
            x, _ = block(x, frame_mask)
        return x


class RefinementRegions(NamedTuple):
    """Start/end regions ``(B, N, 2)`` of each location's coarse segment on its level and on the frames."""

    level_start: Tensor
    level_end: Tensor
    frame_start: Tensor
    frame_end: Tensor


class SaliencyRefinementBranch(nn.Module):
    """AFSD's saliency-based refinement of one tower (Sec. 3.3, ``ProposalBranch``).

    ``forward(x (B, C, N), mask (B, N), frame_pooled (B, F, N), level_start (B, N, 2), level_end
    (B, N, 2), level_lengths (B,)) -> (refined (B, C, N), boundary (B, 2P, N))``: ``frame_pooled``
    are the frame-level features pooled over each location's frame regions (the same for both
    branches, so the head pools them once), ``boundary`` is the ``2P``-channel map pooled here over
    the level regions (start half, end half), ``refined`` the fused proposal feature.
    """

    def __init__(self, channels: int, proposal_channels: int = 512, frame_channels: int = 512, norm_groups: int = 32):
        super().__init__()
        self.point = ConvNormAct1d(channels, proposal_channels, 1, 1, norm_groups)
        self.boundary = ConvNormAct1d(channels, 2 * proposal_channels, 1, 1, norm_groups)
        self.frame_projection = ConvNormAct1d(frame_channels, proposal_channels, 1, 1, norm_groups)
        self.fuse = ConvNormAct1d(4 * proposal_channels, channels, 1, 1, norm_groups)

    def forward(self, x: Tensor, mask: Tensor, frame_pooled: Tensor, level_start: Tensor, level_end: Tensor,
                level_lengths: Tensor) -> tuple[Tensor, Tensor]:
        point, _ = self.point(x, mask)
        boundary, _ = self.boundary(x, mask)
        pooled = start_end_max_pool(boundary, level_start, level_end, level_lengths) * mask.unsqueeze(1).to(x.dtype)
        frame_pooled, _ = self.frame_projection(frame_pooled, mask)
        refined, _ = self.fuse(torch.cat([frame_pooled, pooled, point], dim=1), mask)
        return refined, boundary


def boundary_regions(starts: Tensor, ends: Tensor, extra_length: float = 0.0) -> tuple[Tensor, Tensor]:
    """AFSD's start and end regions of segments ``[starts, ends]`` (any equal shapes ``S``) -> ``(S, 2)`` each.

    With ``l = ends - starts + extra_length``, ``inner = max(l / 4, 1)``, ``outer = max(l / 10, 1)``:
    start region ``[starts - outer, starts + inner]``, end region ``[ends - inner, ends + outer]``,
    rounded half to even (``torch.round``).
    """
    length = ends - starts + extra_length
    inner = torch.clamp(length / 4.0, min=1.0)
    outer = torch.clamp(length / 10.0, min=1.0)
    start_region = torch.stack([torch.round(starts - outer), torch.round(starts + inner)], dim=-1)
    end_region = torch.stack([torch.round(ends - inner), torch.round(ends + outer)], dim=-1)
    return start_region, end_region


def refinement_regions(distances: Tensor, stride: int) -> RefinementRegions:
    """The regions pooled for one level's coarse distances ``(B, 2, N)`` (module docstring, as AFSD)."""
    index = torch.arange(distances.shape[-1], device=distances.device, dtype=distances.dtype)
    left, right = distances[:, 0], distances[:, 1]
    level_start, level_end = boundary_regions(index - left / stride, index + right / stride)
    centre = (index + 0.5) * stride
    frame_start, frame_end = boundary_regions(centre - left, centre + right, extra_length=1.0)
    return RefinementRegions(level_start, level_end, frame_start, frame_end)


def refine_distances(distances: Tensor, offsets: Tensor) -> Tensor:
    """Refined ``(left, right)`` distances ``(..., 2)``: ``d + 0.5 * (d_left + d_right) * offset`` (AFSD's test)."""
    return distances + 0.5 * distances.sum(-1, keepdim=True) * offsets
