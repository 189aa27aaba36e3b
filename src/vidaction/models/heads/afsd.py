"""AFSD's anchor-free temporal action detector (Lin et al., CVPR 2021), the detector of GAF Sec. III-A.

GAF (Sec. III-A, IV-B) puts its attention in front of "an anchor-free detector based on FPN [43]",
AFSD; the layer facts below are those of AFSD's ``AFSD/thumos14/BDNet.py`` (``CoarsePyramid``,
``ProposalBranch``) and GAF's copy ``GAF/thumos14/BDNet.py``.

Parts, each a small module composed by :class:`AFSDHead`:

- :class:`CoarsePyramid` (AFSD Sec. 3.2, "basic predictor" features): every backbone map is
  projected to ``channels`` (512) by a conv whose kernel covers its whole spatial extent
  (``(1, 6, 6)`` on Mixed_4f and ``(1, 3, 3)`` on Mixed_5c for 96 px crops; a ``1``-tap conv on
  ``(B, C, T)`` features), GroupNorm(32), ReLU. Each input level adds the nearest-upsampled
  projection of the next coarser input (AFSD: level 0 = Mixed_4f + Mixed_5c); further levels are
  stride-2 ``k = 3`` convs + GroupNorm + ReLU on the previous level. For T = 256 frames with I3D's
  Mixed_4f (832 ch, T/4 = 64 steps) and Mixed_5c (1024 ch, T/8 = 32): levels of 64, 32, 16, 8, 4, 2
  locations with strides 4, 8, 16, 32, 64, 128 frames (126 locations in all).
- Shared location and classification towers (two ``k = 3`` conv + GroupNorm + ReLU each) and
  ``k = 3`` heads: distances ``d = exp(s_l * x)`` with one learnable scale ``s_l`` per level
  (init 1; AFSD's ``ScaleExp``), and ``K + 1`` class logits with background at index 0.
- :class:`FrameBoundaryBranch`: level 0 nearest-upsampled to the input resolution, then
  ``k = 3, 3, 1`` conv + GroupNorm + ReLU (AFSD's ``deconv``); channels ``[0, F/2)`` are the
  frame-level start features and ``[F/2, F)`` the end features.
- :class:`SaliencyRefinementBranch` (AFSD Sec. 3.3, ``ProposalBranch``), one for the location and
  one for the classification tower: a ``1``-tap conv to ``2P`` channels is boundary-max-pooled over
  each coarse segment's start region (first ``P``) and end region (last ``P``); the frame-level
  features are pooled over the same regions in input steps and projected to ``P``; both are
  concatenated with a ``1``-tap projection of the location's own feature (``4P``) and fused back to
  ``channels``. Heads: refined offsets (``k = 1``, 2 outputs), refined logits (``k = 1``, ``K + 1``)
  and the quality ("centerness") logit (``k = 3`` over the location axis) from the location branch.

Boundary regions (:func:`boundary_regions`, AFSD ``CoarsePyramid.forward``): for a segment of length
``l`` the start region is ``[s - max(l/10, 1), s + max(l/4, 1)]`` and the end region
``[e - max(l/4, 1), e + max(l/10, 1)]``, rounded with ``torch.round``. On a level the segment is
``[c - d_l / stride, c + d_r / stride]`` around the location index ``c`` with ``l = (d_l + d_r) /
stride``; on the frame-level features it is ``[p - d_l, p + d_r]`` around the location centre
``p = (c + 0.5) * stride`` with ``l = d_l + d_r + 1`` (both exactly as AFSD). Regions are computed
from detached distances, so the refinement does not backpropagate into where it looks.

Decisions (where AFSD is fixed to its setting or silent):

- Units: distances, centres and strides are in *input steps*: frames in frame mode, feature steps
  with pre-extracted features. Coarse distances are ``exp(s_l x)`` as AFSD's THUMOS14 model;
  ``distance_multipliers`` scales each level's distances by a constant, as its ActivityNet model
  does with ``fpn_strides = (4, 8, 16, 32, 64, 128)`` (half the true strides 8 ... 256 there).
  Refined offsets are raw, in units of half the coarse segment length: refined distance =
  ``d + 0.5 (d_l + d_r) * offset`` (AFSD's test-time decoding).
- Pre-extracted ``(B, C, T)`` features: one input, stride 1 (or whatever ``in_strides`` says), so
  level 0 is at the input resolution, the upsampling of the frame branch is the identity, and the
  "frame-level" features are feature-step-level ones. Frame mode and feature mode are the same code.
- Padding: ``mask`` marks the valid input steps and must be a prefix (padding only at the end, as in
  AFSD's zero-padded last window). A level's mask is the input mask at every ``stride``-th step
  (``mask[:, ::stride]``, a strided location is valid if its first input step is). Features at
  invalid steps are zeroed after every block and boundary regions are clamped to the valid length,
  so padded content never reaches a valid output except through GroupNorm's statistics (which, as
  in AFSD, are taken over the whole window).
- Convolutions use TensorFlow "same" padding (AFSD's ``Unit1D``): ``k = 3, stride 2`` on an even
  length pads one step on the right only, and a level has ``ceil(T_prev / 2)`` locations.
- Initialisation as GAF's ``BDNet.reset_params``: Xavier-uniform convs with zero bias, then
  ``N(0, 0.01)`` for the towers, heads and refinement branches; GroupNorm weight 1, bias 0.
"""

from __future__ import annotations

from typing import NamedTuple, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vidaction.models.layers.boundary_pooling import start_end_max_pool


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


def same_padding(length: int, kernel_size: int, stride: int) -> tuple[int, int]:
    """TensorFlow "same" padding ``(left, right)`` of a 1-D conv (AFSD ``Unit1D.compute_pad``)."""
    total = max(kernel_size - (stride if length % stride == 0 else length % stride), 0)
    return total // 2, total - total // 2


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
    """``num_layers`` stride-1 ``k = 3`` :class:`ConvNormAct1d` blocks (AFSD's loc/conf towers)."""

    def __init__(self, channels: int, num_layers: int = 2, norm_groups: int = 32):
        super().__init__()
        self.layers = nn.ModuleList(ConvNormAct1d(channels, channels, 3, 1, norm_groups) for _ in range(num_layers))

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        for layer in self.layers:
            x, _ = layer(x, mask)
        return x


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
        self.in_strides = tuple(int(s) for s in in_strides)
        self.projections = nn.ModuleList(
            InputProjection(c, channels, None if hw is None else tuple(hw), norm_groups)
            for c, hw in zip(in_channels, spatial))
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


def refine_distances(distances: Tensor, offsets: Tensor) -> Tensor:
    """Refined ``(left, right)`` distances ``(..., 2)``: ``d + 0.5 * (d_left + d_right) * offset`` (AFSD's test)."""
    return distances + 0.5 * distances.sum(-1, keepdim=True) * offsets


def _check_mask(mask: Tensor) -> None:
    if mask.dim() != 2 or mask.dtype != torch.bool:
        raise ValueError(f"mask {tuple(mask.shape)} {mask.dtype} must be a (B, T) bool tensor")
    if mask.shape[1] > 1 and bool((mask[:, 1:] & ~mask[:, :-1]).any()):
        raise ValueError("mask must mark a prefix of each window as valid (padding only at the end)")
    if not bool(mask[:, 0].all()):
        raise ValueError("every window needs at least one valid step (mask[:, 0] is False somewhere)")

