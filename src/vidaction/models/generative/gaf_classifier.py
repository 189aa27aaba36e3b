"""GAF's segment-level attention on a video classifier (Wang et al., "Generative Model-Based Feature
Attention Module for Video Action Analysis", Table II, footnote 2: only ``L_clf``, the loss in
:func:`vidaction.losses.gaf.gaf_recognition_loss`): :class:`GAFClassifier` and the registered
builders ``gaf_i3d`` and ``gaf_tsm_r50``. ``(N, 3, T, H, W) -> (N, K)``.

The backbone's last map averaged over space, one attention head on ``(N, C, T')`` (a ``1``-tap
``theta``, so any input size works; :mod:`vidaction.models.generative.segment_attention`), and the
backbone's own classifier reset to ``K + 1`` outputs and applied through its ``forward_head`` to
``f_ai`` and ``f_n-ai`` (eq. 11) as ``1 x 1 x 1`` maps. Scores ``(N, K)`` are ``f_ai``'s logits
without the background column.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor, nn

from vidaction.models.backbones.i3d import InceptionI3d, i3d
from vidaction.models.backbones.resnet_tsm import ResNetTSM, tsm_r50
from vidaction.models.generative.segment_attention import (SegmentAttentionHead, attention_weights, collapsed,
                                                           pool_space, weighted_maps)
from vidaction.models.registry import register_model


class GAFClassifierOutput(NamedTuple):
    """One forward of :class:`GAFClassifier`.

    - ``scores``: ``(N, K)`` class scores, ``action_logits`` without the background column.
    - ``action_logits`` / ``nonaction_logits``: ``(N, K + 1)`` of ``f_ai`` / ``f_n-ai``, background at 0.
    - ``lambdas``: ``(N, T')`` attention over the last map's steps.
    - ``collapsed``: ``(N,)`` bool, lambda all within the tolerance of 0 or of 1.
    """

    scores: Tensor
    action_logits: Tensor
    nonaction_logits: Tensor
    lambdas: Tensor
    collapsed: Tensor


class GAFClassifier(nn.Module):
    """Segment-level GAF on a video classifier (Table II): ``(N, 3, T, H, W) -> (N, K)``.

    The backbone's last map ``(N, C, T', H', W')`` is averaged over space, the attention head gives
    ``lambda (N, T')``, and the backbone's classifier, reset to ``K + 1`` outputs, scores ``f_ai`` and
    ``f_n-ai`` through the backbone's ``forward_head`` (its dropout and classifier on a ``1 x 1 x 1``
    map). The backbone is held as ``trunk``: ``backbone.`` and ``base_model.`` prefixes mean other
    things to :func:`~vidaction.models.pretrained.load_pretrained` (a backbone's own checkpoint loads
    into ``model.trunk``).

    Args:
        backbone: a classifier with the backbone interface (``forward_features``, ``forward_head``,
            ``reset_classifier``, ``feature_info``), e.g. Inception-I3D or TSM.
        num_classes: K (a single head).
        attention_channels: width of the attention head.
        norm_groups: its GroupNorm groups.
        eps: added to eq. 11's denominators.
        collapse_tolerance: as :class:`~vidaction.models.generative.gaf.GenerativeAttention`.
    """

    def __init__(self, backbone: nn.Module, num_classes: int, attention_channels: int = 512, norm_groups: int = 32,
                 eps: float = 1e-6, collapse_tolerance: float = 1e-3) -> None:
        super().__init__()
        _check_single_head(num_classes)
        self.trunk = backbone
        self.feature_info = [dict(info) for info in backbone.feature_info]
        last = self.feature_info[-1]
        self.feature_name = last["name"]
        self.attention_head = SegmentAttentionHead(last["num_chs"], None, attention_channels, norm_groups)
        self.eps = float(eps)
        self.collapse_tolerance = float(collapse_tolerance)
        self.num_frames = getattr(backbone, "num_frames", None)
        self.pretrained_cfg = getattr(backbone, "pretrained_cfg", {})
        self.classifier_prefix = "trunk." + getattr(backbone, "classifier_prefix", "fc.")
        self.reset_classifier(num_classes)
        self.last_output: GAFClassifierOutput | None = None

    def reset_classifier(self, num_classes: int) -> None:
        """A new classifier of ``num_classes`` actions plus background."""
        self.trunk.reset_classifier(num_classes + 1)
        self.num_classes = num_classes

    def forward_features(self, x: Tensor) -> dict[str, Tensor]:
        return self.trunk.forward_features(x)

    def _pooled(self, features: dict[str, Tensor]) -> tuple[Tensor, Tensor]:
        """The last map averaged over space ``(N, C, T')`` and its all-valid mask ``(N, T')``."""
        pooled = pool_space(features[self.feature_name])
        return pooled, pooled.new_ones(pooled.shape[0], pooled.shape[2], dtype=torch.bool)

    def attend(self, features: dict[str, Tensor]) -> GAFClassifierOutput:
        """Eqs. 11-12 on the last map; the result is also kept in ``last_output``."""
        pooled, mask = self._pooled(features)
        lambdas = self.attention_head(pooled, mask)
        vectors = torch.cat([torch.einsum("bct,bt->bc", pooled, attention_weights(lambdas, mask, self.eps)),
                             torch.einsum("bct,bt->bc", pooled, attention_weights(1.0 - lambdas, mask, self.eps))])
        logits = self.trunk.forward_head({self.feature_name: vectors[:, :, None, None, None]})
        action, nonaction = logits.chunk(2, dim=0)
        self.last_output = GAFClassifierOutput(action[:, 1:], action, nonaction, lambdas,
                                               collapsed(lambdas, mask, self.collapse_tolerance))
        return self.last_output

    def forward_head(self, features: dict[str, Tensor]) -> Tensor:
        return self.attend(features).scores

    def enhanced_maps(self, features: dict[str, Tensor]) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """``(original, action, nonaction, lambdas)`` over the last map's steps: the map averaged over
        space ``(N, C, T')``, it weighted as eq. 10's ``F'`` by ``lambda`` and by ``1 - lambda``
        (``T' w_t``, so a constant lambda leaves it unchanged), and ``lambda`` ``(N, T')`` (GAF Fig. 6)."""
        output = self.attend(features)
        pooled, mask = self._pooled(features)
        action, nonaction = (weighted_maps([pooled], [attention_weights(weights, mask, self.eps)], [mask])[0]
                             for weights in (output.lambdas, 1.0 - output.lambdas))
        return pooled, action, nonaction, output.lambdas

    def forward(self, x: Tensor, return_attention: bool = False) -> Tensor | GAFClassifierOutput:
        """Scores ``(N, K)``; with ``return_attention`` the whole :class:`GAFClassifierOutput`."""
        output = self.attend(self.forward_features(x))
        return output if return_attention else output.scores


def _check_single_head(num_classes) -> None:
    if not isinstance(num_classes, int) or isinstance(num_classes, bool) or num_classes < 1:
        raise ValueError(f"GAF recognition needs one head of num_classes >= 1, got {num_classes!r}")


def _attention_width(base_width: int, attention_channels: int | None) -> tuple[int, int]:
    """The attention head's width (512 scaled by ``base_width / 64`` unless given) and GroupNorm
    groups: the most, up to 32, that divide it with at least 16 channels per group, so the
    statistics stay meaningful for maps of a single step."""
    channels = attention_channels or max(512 * base_width // 64, 16)
    groups = next((g for g in range(min(32, channels // 16), 0, -1) if channels % g == 0), 1)
    return channels, groups


@register_model
def gaf_i3d(num_classes: int, num_frames: int = 64, dropout: float = 0.5, base_width: int = 64, in_channels: int = 3,
            attention_channels: int | None = None) -> GAFClassifier:
    """Segment-level GAF on Inception-I3D's Mixed_5c (Table II); ``base_width`` scales the backbone
    and the attention head (512 channels at 64). 101 classes: 13.71 M parameters (I3D: 12.39 M),
    111.16 G MACs at 64 x 224 x 224 (I3D: 111.15 G)."""
    _check_single_head(num_classes)
    backbone: InceptionI3d = i3d(num_classes + 1, num_frames, dropout, base_width, in_channels)
    channels, groups = _attention_width(base_width, attention_channels)
    return GAFClassifier(backbone, num_classes, channels, groups)


@register_model
def gaf_tsm_r50(num_classes: int, num_frames: int, dropout: float = 0.5, shift_div: int = 8, base_width: int = 64,
                in_channels: int = 3, input_size: int = 224, attention_channels: int | None = None) -> GAFClassifier:
    """Segment-level GAF on TSM ResNet-50's layer4 (Table II's second backbone family). 101 classes:
    25.56 M parameters (TSM: 23.71 M), 32.71 G MACs at 8 x 224 x 224 (TSM: 32.70 G)."""
    _check_single_head(num_classes)
    backbone: ResNetTSM = tsm_r50(num_classes + 1, num_frames, dropout=dropout, shift_div=shift_div,
                                  base_width=base_width, in_channels=in_channels, input_size=input_size)
    channels, groups = _attention_width(base_width, attention_channels)
    return GAFClassifier(backbone, num_classes, channels, groups)
