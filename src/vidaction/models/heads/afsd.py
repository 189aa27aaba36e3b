"""AFSD's anchor-free temporal action detector (Lin et al., CVPR 2021), the detector of GAF Sec. III-A:
:class:`AFSDHead` and its raw outputs :class:`AFSDOutput`, :class:`CoarseClassOutput`.

GAF (Sec. III-A, IV-B) puts its attention in front of "an anchor-free detector based on FPN [43]",
AFSD; the layer facts are those of AFSD's ``AFSD/thumos14/BDNet.py`` (``CoarsePyramid``,
``ProposalBranch``) and GAF's copy ``GAF/thumos14/BDNet.py``. The head composes small parts, one
concept a file:

- the coarse feature pyramid (:mod:`~vidaction.models.heads.afsd_pyramid`, AFSD Sec. 3.2): backbone
  maps projected, fused and downsampled to ``num_levels`` levels; what it reads is
  :attr:`AFSDHead.input_spec`;
- the coarse branches (here): shared location and classification towers (two ``k = 3`` conv +
  GroupNorm + ReLU each, :class:`~vidaction.models.heads.masked_conv1d.ConvTower`) and ``k = 3``
  heads: distances ``d = exp(s_l * x)`` with one learnable scale ``s_l`` per level (init 1; AFSD's
  ``ScaleExp``), and ``K + 1`` class logits with background at index 0;
- the saliency-based refinement (:mod:`~vidaction.models.heads.afsd_refinement`, AFSD Sec. 3.3):
  frame-level boundary features and boundary max-pooling over each coarse segment's start and end
  regions, giving refined offsets (``k = 1``, 2 outputs), refined logits (``k = 1``, ``K + 1``)
  and the quality ("centerness") logit (``k = 3`` over the location axis) from the location branch.

Distances, centres and strides are in input steps; ``mask`` must be a prefix; padded steps are zeroed.
Decisions: docs/papers/gaf.md#afsd-detector.
"""

from __future__ import annotations

from typing import NamedTuple, Sequence

import torch
from torch import Tensor, nn

from vidaction.models.heads.afsd_pyramid import CoarsePyramid, InputProjection, InputSpec
from vidaction.models.heads.afsd_refinement import (FrameBoundaryBranch, SaliencyRefinementBranch, boundary_regions,
                                                    refine_distances, refinement_regions)
from vidaction.models.heads.masked_conv1d import ConvTower, SameConv1d, same_padding
from vidaction.models.layers.boundary_pooling import start_end_max_pool

__all__ = ["AFSDHead", "AFSDOutput", "CoarseClassOutput", "InputProjection", "InputSpec", "boundary_regions",
           "refine_distances", "refinement_regions", "same_padding"]


class AFSDOutput(NamedTuple):
    """Raw outputs of :class:`AFSDHead` for a batch of windows; ``L`` = locations of all levels.

    - ``cls_logits``: ``(B, L, K + 1)`` coarse class logits, background at index 0.
    - ``distances``: ``(B, L, 2)`` coarse ``(left, right)`` distances from each location centre to
      the segment's start and end, in input steps (positive).
    - ``refined_offsets``: ``(B, L, 2)`` refinement of the distances in units of half the coarse
      segment length.
    - ``refined_logits``: ``(B, L, K + 1)`` refined class logits.
    - ``quality_logits``: ``(B, L)`` logit of the refined segment's IoU with its ground truth.
    - ``centers``: ``(L,)`` location centres in input steps, ``(c + 0.5) * stride``.
    - ``strides``: ``(L,)`` each location's level stride in input steps.
    - ``mask``: ``(B, L)`` bool, valid locations.
    - ``frame_mask``: ``(B, T)`` bool, the input mask.
    - ``frame_features``: ``(B, F, T)`` frame-level features, start half then end half.
    - ``loc_boundary`` / ``conf_boundary``: ``(B, 2P, T_0)`` level-0 features of the two refinement
      branches before pooling, start half then end half (AFSD's ``start/end_loc_prop`` and
      ``start/end_conf_prop``).
    - ``level_sizes``: locations per level, ``sum(level_sizes) == L``.
    """

    cls_logits: Tensor
    distances: Tensor
    refined_offsets: Tensor
    refined_logits: Tensor
    quality_logits: Tensor
    centers: Tensor
    strides: Tensor
    mask: Tensor
    frame_mask: Tensor
    frame_features: Tensor
    loc_boundary: Tensor
    conf_boundary: Tensor
    level_sizes: tuple[int, ...]


class CoarseClassOutput(NamedTuple):
    """The coarse class logits alone, ``cls_logits`` ``(B, L, K + 1)`` and the location ``mask``
    ``(B, L)``: what a loss towards background needs (GAF's eq. 13 on the non-action maps)."""

    cls_logits: Tensor
    mask: Tensor


class AFSDHead(nn.Module):
    """AFSD's detector on backbone maps: ``features (list), mask (B, T) -> AFSDOutput``.

    Args:
        in_channels: channels of each input map, finest first (I3D frame mode: ``(832, 1024)``).
        num_classes: action classes ``K``; logits have ``K + 1`` outputs with background at 0.
        in_strides: input steps per map step (frame mode: ``(4, 8)``; ``(T, C)`` features: ``(1,)``).
        in_spatial: each map's ``(H, W)``, or ``None`` for ``(B, C, T)`` maps (96 px crops: ``((6, 6), (3, 3))``).
        num_levels: pyramid levels (6 for T = 256 frames).
        channels: pyramid, tower and refinement width (512).
        proposal_channels: ``P`` of the refinement branches (512).
        frame_channels: ``F`` of the frame-level features (512; halves are start and end).
        tower_layers: conv blocks per tower (2).
        norm_groups: GroupNorm groups (32).
        distance_multipliers: one constant per level multiplying its distances (None: 1, AFSD's THUMOS14
            model; its ActivityNet model: ``(4, 8, 16, 32, 64, 128)``).
    """

    def __init__(self, in_channels: Sequence[int], num_classes: int, in_strides: Sequence[int] = (4, 8),
                 in_spatial: Sequence[tuple[int, int] | None] | None = ((6, 6), (3, 3)), num_levels: int = 6,
                 channels: int = 512, proposal_channels: int = 512, frame_channels: int = 512, tower_layers: int = 2,
                 norm_groups: int = 32, distance_multipliers: Sequence[float] | None = None):
        super().__init__()
        if num_classes < 1:
            raise ValueError(f"num_classes must be >= 1, got {num_classes}")
        if distance_multipliers is not None and len(distance_multipliers) != num_levels:
            raise ValueError(f"need one distance multiplier per level ({num_levels}), got {list(distance_multipliers)}")
        self.num_classes = num_classes
        self.distance_multipliers = None if distance_multipliers is None else tuple(map(float, distance_multipliers))
        self.pyramid = CoarsePyramid(in_channels, in_strides, in_spatial, num_levels, channels, norm_groups)
        self.strides = self.pyramid.strides
        self.frame_branch = FrameBoundaryBranch(channels, frame_channels, norm_groups)
        self.loc_tower = ConvTower(channels, tower_layers, norm_groups)
        self.cls_tower = ConvTower(channels, tower_layers, norm_groups)
        self.loc_head = SameConv1d(channels, 2, 3)
        self.cls_head = SameConv1d(channels, num_classes + 1, 3)
        self.distance_scales = nn.Parameter(torch.ones(num_levels))
        self.loc_refinement = SaliencyRefinementBranch(channels, proposal_channels, frame_channels, norm_groups)
        self.cls_refinement = SaliencyRefinementBranch(channels, proposal_channels, frame_channels, norm_groups)
        self.refined_loc_head = SameConv1d(channels, 2, 1)
        self.refined_cls_head = SameConv1d(channels, num_classes + 1, 1)
        self.quality_head = SameConv1d(channels, 1, 3)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """GAF's ``BDNet.reset_params``: Xavier-uniform, then ``N(0, 0.01)`` for towers, heads, branches."""
        for module in self.modules():
            if isinstance(module, (nn.Conv1d, nn.Conv3d)):
                nn.init.xavier_uniform_(module.weight)
                nn.init.zeros_(module.bias)
            elif isinstance(module, nn.GroupNorm):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
        for part in (self.loc_tower, self.cls_tower, self.loc_head, self.cls_head, self.loc_refinement,
                     self.cls_refinement, self.refined_loc_head, self.refined_cls_head, self.quality_head):
            for module in part.modules():
                if isinstance(module, nn.Conv1d):
                    nn.init.normal_(module.weight, std=0.01)
                    nn.init.zeros_(module.bias)
        nn.init.ones_(self.distance_scales)

    @property
    def input_spec(self) -> list[InputSpec]:
        """What the head reads: one :class:`InputSpec` (channels, stride, spatial size) per input map,
        finest first; a module put in front of the head sizes itself from it."""
        return list(self.pyramid.input_spec)

    def forward(self, features: Sequence[Tensor], mask: Tensor) -> AFSDOutput:
        _check_mask(mask)
        levels, masks = self.pyramid(features, mask)
        frame_features = self.frame_branch(levels[0], mask)
        coarse = [self._coarse(index, x, level_mask) for index, (x, level_mask) in enumerate(zip(levels, masks))]
        regions = [refinement_regions(distances.detach(), stride)
                   for (_, _, _, distances), stride in zip(coarse, self.strides)]
        sizes = tuple(x.shape[-1] for x in levels)
        # One pooling of the frame-level features for every location of every level and both branches.
        frame_pooled = start_end_max_pool(frame_features, torch.cat([r.frame_start for r in regions], dim=1),
                                          torch.cat([r.frame_end for r in regions], dim=1), mask.sum(-1))
        per_level = []
        for index, ((loc_features, cls_features, cls_logits, distances), level_mask, region, frame_part) in enumerate(
                zip(coarse, masks, regions, frame_pooled.split(sizes, dim=2))):
            level_lengths = level_mask.sum(-1)
            loc_refined, loc_boundary = self.loc_refinement(
                loc_features, level_mask, frame_part, region.level_start, region.level_end, level_lengths)
            cls_refined, cls_boundary = self.cls_refinement(
                cls_features, level_mask, frame_part, region.level_start, region.level_end, level_lengths)
            per_level.append((cls_logits, distances, self.refined_loc_head(loc_refined),
                              self.refined_cls_head(cls_refined), self.quality_head(loc_refined)))
            if index == 0:
                level0_boundaries = (loc_boundary, cls_boundary)
        cls_logits, distances, offsets, refined_logits, quality = (
            torch.cat(parts, dim=2).transpose(1, 2) for parts in zip(*per_level))
        device = mask.device
        strides = torch.cat([torch.full((n,), float(s), device=device) for n, s in zip(sizes, self.strides)])
        centers = torch.cat([(torch.arange(n, device=device) + 0.5) * s for n, s in zip(sizes, self.strides)])
        return AFSDOutput(
            cls_logits=cls_logits, distances=distances, refined_offsets=offsets, refined_logits=refined_logits,
            quality_logits=quality.squeeze(-1), centers=centers, strides=strides, mask=torch.cat(masks, dim=1),
            frame_mask=mask, frame_features=frame_features, loc_boundary=level0_boundaries[0],
            conf_boundary=level0_boundaries[1], level_sizes=sizes)

    def coarse_classification(self, features: Sequence[Tensor], mask: Tensor) -> CoarseClassOutput:
        """Only the pyramid, the classification tower and the coarse class head: the same
        ``cls_logits`` and ``mask`` as :meth:`forward`, without the localisation and refinement work."""
        _check_mask(mask)
        levels, masks = self.pyramid(features, mask)
        logits = [self.cls_head(self.cls_tower(x, m)) for x, m in zip(levels, masks)]
        return CoarseClassOutput(torch.cat(logits, dim=2).transpose(1, 2), torch.cat(masks, dim=1))

    def _coarse(self, index: int, x: Tensor, mask: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """Level ``index``'s towers and coarse heads: both towers' features, class logits, distances ``(B, 2, T_l)``."""
        loc_features = self.loc_tower(x, mask)
        cls_features = self.cls_tower(x, mask)
        distances = torch.exp(self.distance_scales[index] * self.loc_head(loc_features))
        if self.distance_multipliers is not None:
            distances = distances * self.distance_multipliers[index]
        return loc_features, cls_features, self.cls_head(cls_features), distances


def _check_mask(mask: Tensor) -> None:
    if mask.dim() != 2 or mask.dtype != torch.bool:
        raise ValueError(f"mask {tuple(mask.shape)} {mask.dtype} must be a (B, T) bool tensor")
    if mask.shape[1] > 1 and bool((mask[:, 1:] & ~mask[:, :-1]).any()):
        raise ValueError("mask must mark a prefix of each window as valid (padding only at the end)")
    if not bool(mask[:, 0].all()):
        raise ValueError("every window needs at least one valid step (mask[:, 0] is False somewhere)")

