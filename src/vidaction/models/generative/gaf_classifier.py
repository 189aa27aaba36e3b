"""GAF's segment-level attention on a video classifier (Wang et al., "Generative Model-Based Feature
Attention Module for Video Action Analysis", Table II, footnote 2: only ``L_clf``, the loss in
:func:`vidaction.losses.gaf.gaf_recognition_loss`): :class:`GAFClassifier`, the registered builder
``gaf_classifier`` on any registered backbone, and its presets ``gaf_i3d`` and ``gaf_tsm_r50``.
``(N, 3, T, H, W) -> (N, K)``.

The backbone's last map averaged over space, one attention head on ``(N, C, T')`` (a ``1``-tap
``theta``, so any input size works; :mod:`vidaction.models.generative.segment_attention`), and the
backbone's own classifier reset to ``K + 1`` outputs and applied through its ``forward_head`` to
``f_ai`` and ``f_n-ai`` (eq. 11) as ``1 x 1 x 1`` maps. Scores ``(N, K)`` are ``f_ai``'s logits
without the background column. An earlier stage may be attended instead (``stage``): the
backbone's classifier reads the last stage only, so ``f_ai`` and ``f_n-ai`` then go through a
linear classifier of their own (``classifier``, no dropout), and the later stages and the
backbone's classifier are computed but get no gradient.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor, nn

from vidaction.models.generative.segment_attention import (SegmentAttentionHead, attention_weights, collapsed,
                                                           pool_space, weighted_maps)
from vidaction.models.registry import create_model, register_model


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
    map); an earlier ``stage`` has a classifier of its own (module docstring). The backbone is held
    as ``trunk``: ``backbone.`` and ``base_model.`` prefixes mean other things to
    :func:`~vidaction.models.pretrained.load_pretrained` (a backbone's own checkpoint loads into
    ``model.trunk``).

    Args:
        backbone: a classifier with the backbone interface (``forward_features``, ``forward_head``,
            ``reset_classifier``, ``feature_info``), e.g. Inception-I3D or TSM.
        num_classes: K (a single head).
        attention_channels: width of the attention head.
        norm_groups: its GroupNorm groups.
        eps: added to eq. 11's denominators.
        collapse_tolerance: as :class:`~vidaction.models.generative.gaf.GenerativeAttention`.
        stage: the ``feature_info`` name of the attended map (``None``: the last).
    """

    def __init__(self, backbone: nn.Module, num_classes: int, attention_channels: int = 512, norm_groups: int = 32,
                 eps: float = 1e-6, collapse_tolerance: float = 1e-3, stage: str | None = None) -> None:
        super().__init__()
        _check_single_head(num_classes)
        self.trunk = backbone
        self.feature_info = [dict(info) for info in backbone.feature_info]
        attended = attended_stage(self.feature_info, stage)
        self.feature_name = attended["name"]
        self.attention_head = SegmentAttentionHead(attended["num_chs"], None, attention_channels, norm_groups)
        self.eps = float(eps)
        self.collapse_tolerance = float(collapse_tolerance)
        self.num_frames = getattr(backbone, "num_frames", None)
        self.pretrained_cfg = getattr(backbone, "pretrained_cfg", {})
        self.own_classifier = self.feature_name != self.feature_info[-1]["name"]
        self.classifier: nn.Linear | None = None
        self.classifier_prefix = ("classifier." if self.own_classifier
                                  else "trunk." + getattr(backbone, "classifier_prefix", "fc."))
        self.reset_classifier(num_classes)
        self.last_output: GAFClassifierOutput | None = None

    def reset_classifier(self, num_classes: int) -> None:
        """A new classifier of ``num_classes`` actions plus background."""
        if self.own_classifier:
            channels = attended_stage(self.feature_info, self.feature_name)["num_chs"]
            self.classifier = nn.Linear(channels, num_classes + 1)
            nn.init.normal_(self.classifier.weight, std=0.01)
            nn.init.zeros_(self.classifier.bias)
        else:
            self.trunk.reset_classifier(num_classes + 1)
        self.num_classes = num_classes

    def forward_features(self, x: Tensor) -> dict[str, Tensor]:
        return self.trunk.forward_features(x)

    def _pooled(self, features: dict[str, Tensor]) -> tuple[Tensor, Tensor]:
        """The attended map averaged over space ``(N, C, T')`` and its all-valid mask ``(N, T')``."""
        pooled = pool_space(features[self.feature_name])
        return pooled, pooled.new_ones(pooled.shape[0], pooled.shape[2], dtype=torch.bool)

    def attend(self, features: dict[str, Tensor]) -> GAFClassifierOutput:
        """Eqs. 11-12 on the attended map; the result is also kept in ``last_output``."""
        pooled, mask = self._pooled(features)
        lambdas = self.attention_head(pooled, mask)
        vectors = torch.cat([torch.einsum("bct,bt->bc", pooled, attention_weights(lambdas, mask, self.eps)),
                             torch.einsum("bct,bt->bc", pooled, attention_weights(1.0 - lambdas, mask, self.eps))])
        if self.classifier is None:
            logits = self.trunk.forward_head({self.feature_name: vectors[:, :, None, None, None]})
        else:
            logits = self.classifier(vectors)
        action, nonaction = logits.chunk(2, dim=0)
        self.last_output = GAFClassifierOutput(action[:, 1:], action, nonaction, lambdas,
                                               collapsed(lambdas, mask, self.collapse_tolerance))
        return self.last_output

    def forward_head(self, features: dict[str, Tensor]) -> Tensor:
        return self.attend(features).scores

    def enhanced_maps(self, features: dict[str, Tensor]) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """``(original, action, nonaction, lambdas)`` over the attended map's steps: the map averaged
        over space ``(N, C, T')``, it weighted as eq. 10's ``F'`` by ``lambda`` and by ``1 - lambda``
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


def attended_stage(feature_info: list[dict], stage: str | None) -> dict:
    """The ``feature_info`` entry named ``stage`` (``None``: the last)."""
    if stage is None:
        return feature_info[-1]
    names = [info["name"] for info in feature_info]
    if stage not in names:
        raise ValueError(f"stage {stage!r} is not a stage of the backbone; its stages are {names}")
    return feature_info[names.index(stage)]


def _norm_groups(channels: int) -> int:
    """GroupNorm groups of an attention head of ``channels``: the most, up to 32, that divide it with
    at least 16 channels per group, so the statistics stay meaningful for maps of a single step."""
    return next((g for g in range(min(32, channels // 16), 0, -1) if channels % g == 0), 1)


def _scaled_width(base_width: int, attention_channels: int | None) -> int:
    """The presets' attention width: 512 scaled by ``base_width / 64`` unless given."""
    return attention_channels or max(512 * base_width // 64, 16)


@register_model
def gaf_classifier(num_classes: int, num_frames: int | None = None, backbone: str = "i3d",
                   backbone_options: dict | None = None, stage: str | None = None,
                   attention_channels: int | None = None, dropout: float = 0.5) -> GAFClassifier:
    """Segment-level GAF on any registered backbone (Table II):
    ``GAFClassifier(create_model(backbone, num_classes + 1, num_frames, dropout=dropout,
    **backbone_options), ...)`` attending ``stage`` (``None``: the last ``feature_info`` entry).
    ``num_frames=None`` takes the backbone's default; ``attention_channels=None`` is half the
    attended map's channels (at least 16; Inception-I3D's Mixed_5c: 512, as GAF), with the most
    GroupNorm groups up to 32 that leave 16 channels per group."""
    _check_single_head(num_classes)
    options = dict(backbone_options or {})
    if "dropout" in options:
        raise ValueError("gaf_classifier takes dropout as its own argument, not in backbone_options")
    trunk = create_model(backbone, num_classes + 1, num_frames, dropout=dropout, **options)
    channels = attention_channels or max(attended_stage(trunk.feature_info, stage)["num_chs"] // 2, 16)
    return GAFClassifier(trunk, num_classes, channels, _norm_groups(channels), stage=stage)


@register_model
def gaf_i3d(num_classes: int, num_frames: int = 64, dropout: float = 0.5, base_width: int = 64, in_channels: int = 3,
            attention_channels: int | None = None) -> GAFClassifier:
    """Segment-level GAF on Inception-I3D's Mixed_5c (Table II), :func:`gaf_classifier`'s preset;
    ``base_width`` scales the backbone and the attention head (512 channels at 64). 101 classes:
    13.71 M parameters (I3D: 12.39 M), 111.16 G MACs at 64 x 224 x 224 (I3D: 111.15 G)."""
    return gaf_classifier(num_classes, num_frames, "i3d", {"base_width": base_width, "in_channels": in_channels},
                          attention_channels=_scaled_width(base_width, attention_channels), dropout=dropout)


@register_model
def gaf_tsm_r50(num_classes: int, num_frames: int, dropout: float = 0.5, shift_div: int = 8, base_width: int = 64,
                in_channels: int = 3, input_size: int = 224, attention_channels: int | None = None) -> GAFClassifier:
    """Segment-level GAF on TSM ResNet-50's layer4 (Table II's second backbone family),
    :func:`gaf_classifier`'s preset. 101 classes: 25.56 M parameters (TSM: 23.71 M), 32.71 G MACs
    at 8 x 224 x 224 (TSM: 32.70 G)."""
    return gaf_classifier(num_classes, num_frames, "tsm_r50",
                          {"shift_div": shift_div, "base_width": base_width, "in_channels": in_channels,
                           "input_size": input_size},
                          attention_channels=_scaled_width(base_width, attention_channels), dropout=dropout)
