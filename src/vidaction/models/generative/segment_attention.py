"""GAF's segment-level attention (Wang et al., "Generative Model-Based Feature Attention Module for
Video Action Analysis", Sec. III-B-2, eqs. 10-12, Fig. 3b): the attention head giving ``lambda_t``,
eq. 11's pooled action and non-action features, eq. 12's classifier and eq. 10's enhanced maps.

For every backbone map ``f^i`` (I3D frame mode: Mixed_4f ``(B, 832, T/4, 6, 6)`` and Mixed_5c
``(B, 1024, T/8, 3, 3)``; feature mode: ``(B, C, T)``, treated as a ``1 x 1`` grid) an attention
head gives ``lambda_t in [0, 1]`` per step (:class:`SegmentAttentionHead`); the action-instance and
non-action features of eq. 11, ``f_ai = sum_t lambda_t f_t / sum_t lambda_t`` and ``f_n-ai`` with
``1 - lambda`` (``f_t`` averaged over space); a classifier of both into ``K + 1`` classes, background
at 0 (eq. 12); the enhanced maps ``F'`` (eq. 10) that feed the detector, and the
``(1 - lambda)``-weighted maps on which the detector's own losses give eq. 13
(:mod:`vidaction.losses.gaf`). :func:`segment_attention` runs all of it for a list of maps; the
wrapper that owns the heads and classifiers is :class:`~vidaction.models.generative.gaf.GenerativeAttention`.

One head (a scalar ``lambda_t`` per step) per map, at its resolution; ``F'_t = f_t lambda_t / mean_valid(lambda)``.
Decisions: docs/papers/gaf.md#segment-level-attention, #enhanced-maps.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

Spatial = tuple[int, int] | None


class SegmentAttentionOutput(NamedTuple):
    """Segment-level GAF of one forward, one entry per input map ``i`` (``M`` maps).

    - ``lambdas``: ``(B, T_i)`` attention in ``[0, 1]``, 0 at padded steps.
    - ``masks``: ``(B, T_i)`` bool, the map's valid steps (``mask[:, ::stride_i]``).
    - ``action_features`` / ``nonaction_features``: ``f_ai`` / ``f_n-ai`` ``(B, C_i)`` (eq. 11).
    - ``action_logits`` / ``nonaction_logits``: ``(B, K + 1)``, background at 0 (eq. 12).
    - ``collapsed``: ``(B, M)`` bool, lambda all within the tolerance of 0 or of 1 on the valid steps.
    """

    lambdas: list[Tensor]
    masks: list[Tensor]
    action_features: list[Tensor]
    nonaction_features: list[Tensor]
    action_logits: list[Tensor]
    nonaction_logits: list[Tensor]
    collapsed: Tensor


def masked_group_norm(x: Tensor, mask: Tensor, norm: nn.GroupNorm) -> Tensor:
    """``norm`` (a GroupNorm) with statistics over the valid steps only: ``(B, C, T), (B, T) -> (B, C, T)``.

    Equals ``norm(x)`` when every step is valid; invalid steps come out as 0, and a window's output
    at its valid steps does not depend on its padding.
    """
    batch, channels, steps = x.shape
    groups = norm.num_groups
    valid = mask.view(batch, 1, 1, steps)
    grouped = x.reshape(batch, groups, channels // groups, steps)
    count = (valid.sum(dim=-1, keepdim=True) * (channels // groups)).clamp(min=1).to(x.dtype)
    mean = torch.where(valid, grouped, 0.0).sum(dim=(2, 3), keepdim=True) / count
    centred = torch.where(valid, grouped - mean, 0.0)
    variance = centred.pow(2).sum(dim=(2, 3), keepdim=True) / count
    normalised = (centred * torch.rsqrt(variance + norm.eps)).reshape(batch, channels, steps)
    if norm.affine:
        normalised = normalised * norm.weight.view(1, -1, 1) + norm.bias.view(1, -1, 1)
    return normalised * mask.unsqueeze(1).to(x.dtype)


def attention_weights(lambdas: Tensor, mask: Tensor, eps: float) -> Tensor:
    """Eq. 11's pooling weights ``w_t = lambda_t m_t / (sum_t lambda_t m_t + eps)``: ``(B, T) -> (B, T)``."""
    weighted = lambdas * mask.to(lambdas.dtype)
    return weighted / (weighted.sum(dim=1, keepdim=True) + eps)


def pool_space(x: Tensor) -> Tensor:
    """``(B, C, T, H, W) -> (B, C, T)`` by the spatial mean; ``(B, C, T)`` unchanged."""
    return x.mean(dim=(3, 4)) if x.dim() == 5 else x


def _per_step(values: Tensor, like: Tensor) -> Tensor:
    """``(B, T)`` broadcast against a map ``(B, C, T)`` or ``(B, C, T, H, W)``."""
    return values.view(values.shape[0], 1, values.shape[1], *([1] * (like.dim() - 3)))


def weighted_maps(features: Sequence[Tensor], weights: Sequence[Tensor], masks: Sequence[Tensor]) -> list[Tensor]:
    """Eq. 10's ``F'``: each map times ``T_valid * w_t`` (``lambda_t / mean_valid(lambda)``)."""
    return [x * _per_step(w * m.sum(1, keepdim=True), x) for x, w, m in zip(features, weights, masks)]


def collapsed(lambdas: Tensor, mask: Tensor, tolerance: float) -> Tensor:
    """``(B, T), (B, T) -> (B,)`` bool: every valid lambda within ``tolerance`` of 0, or every one of 1."""
    low = ((lambdas <= tolerance) | ~mask).all(dim=1)
    high = ((lambdas >= 1.0 - tolerance) | ~mask).all(dim=1)
    return low | high


class SegmentAttentionHead(nn.Module):
    """Lambda of one map (eq. 10's ``sigmoid(f_conv1D(theta_i(x_i)))``):
    ``(B, C, T, H, W)`` or ``(B, C, T)``, mask ``(B, T)`` -> ``(B, T)`` in ``[0, 1]``, 0 where invalid.

    Args:
        in_channels: C of the map.
        spatial: ``(H, W)`` of the map (``theta`` is a ``(1, H, W)`` conv), or ``None`` for
            ``(B, C, T)`` maps (a ``1``-tap conv).
        channels: width of ``theta`` and the temporal conv (512 in the code).
        norm_groups: GroupNorm groups (32).
        kernel_size: temporal kernel (3), odd.
    """

    def __init__(self, in_channels: int, spatial: Spatial = None, channels: int = 512, norm_groups: int = 32,
                 kernel_size: int = 3) -> None:
        super().__init__()
        if channels % norm_groups:
            raise ValueError(f"GroupNorm({norm_groups}) needs channels divisible by it, got {channels}")
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd and positive, got {kernel_size}")
        self.spatial = None if spatial is None else (int(spatial[0]), int(spatial[1]))
        if self.spatial is None:
            self.theta: nn.Module = nn.Conv1d(in_channels, channels, 1)
        else:
            self.theta = nn.Conv3d(in_channels, channels, (1, *self.spatial))
        self.theta_norm = nn.GroupNorm(norm_groups, channels)
        self.temporal = nn.Conv1d(channels, channels, kernel_size, padding=kernel_size // 2)
        self.temporal_norm = nn.GroupNorm(norm_groups, channels)
        self.score = nn.Conv1d(channels, 1, 1)
        for module in (self.theta, self.temporal, self.score):
            nn.init.xavier_uniform_(module.weight)
            nn.init.zeros_(module.bias)

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        h = self.theta(x)
        if self.spatial is not None:
            h = h.flatten(2)
        h = F.relu(masked_group_norm(h, mask, self.theta_norm))
        h = F.relu(masked_group_norm(self.temporal(h), mask, self.temporal_norm))
        return torch.sigmoid(self.score(h)).squeeze(1) * mask.to(h.dtype)


def segment_attention(heads: Sequence[SegmentAttentionHead], classifiers: Sequence[nn.Module],
                      features: Sequence[Tensor], masks: Sequence[Tensor], eps: float,
                      collapse_tolerance: float) -> tuple[SegmentAttentionOutput, list[Tensor], list[Tensor]]:
    """Eqs. 10-12 on every map ``i``: ``heads[i]`` gives lambda, eq. 11 pools ``f_ai`` / ``f_n-ai``,
    ``classifiers[i]`` scores them. Maps ``(B, C_i, T_i[, H_i, W_i])`` with masks ``(B, T_i)`` ->
    ``(SegmentAttentionOutput, action weights, non-action weights)``, the weights ``(B, T_i)`` being
    eq. 11's ``w_t`` of ``lambda`` and of ``1 - lambda`` (for :func:`weighted_maps`)."""
    lambdas, action, nonaction, action_w, nonaction_w = [], [], [], [], []
    for head, x, m in zip(heads, features, masks):
        lam = head(x, m)
        pooled = pool_space(x)
        w_ai = attention_weights(lam, m, eps)
        w_nai = attention_weights(1.0 - lam, m, eps)
        lambdas.append(lam)
        action_w.append(w_ai)
        nonaction_w.append(w_nai)
        action.append(torch.einsum("bct,bt->bc", pooled, w_ai))
        nonaction.append(torch.einsum("bct,bt->bc", pooled, w_nai))
    flags = torch.stack([collapsed(lam, m, collapse_tolerance) for lam, m in zip(lambdas, masks)], dim=1)
    segment = SegmentAttentionOutput(
        lambdas=lambdas, masks=list(masks), action_features=action, nonaction_features=nonaction,
        action_logits=[c(f) for c, f in zip(classifiers, action)],
        nonaction_logits=[c(f) for c, f in zip(classifiers, nonaction)], collapsed=flags)
    return segment, action_w, nonaction_w
