"""A temporal action detector as a composition: optional backbone -> optional feature attention -> AFSD head.

- Frame mode: ``x: (B, 3 or 2, T, H, W)`` frames of a window; the backbone (Inception-I3D) gives the
  named endpoints ``endpoints`` (AFSD: ``Mixed_4f`` at ``T/4`` and ``Mixed_5c`` at ``T/8``), which the
  head's pyramid projects and fuses.
- Feature mode: ``x: (B, C, T)`` or ``(B, C, T, H, W)`` pre-extracted features; there is no backbone
  and the head reads ``x`` as its single input.
- ``attention`` (GAF, :class:`~vidaction.models.generative.gaf.GenerativeAttention`) maps the list
  of head inputs to enhanced inputs of the same shapes between the two; ``None`` is plain AFSD.

The registered builder :func:`afsd` (``create_model("afsd", num_classes, backbone="i3d", ...)``)
names the backbone and records every argument in ``model.arch``; :func:`afsd_detector` takes an
already built backbone module.

``forward(x, mask)`` takes the ``(B, T)`` bool validity mask at the input resolution (padding only at
the end of a window) and returns the head's raw :class:`~vidaction.models.heads.afsd.AFSDOutput`;
targets, losses, decoding and NMS live elsewhere. The detector never moves devices. For GAF's two
alternating training steps (Fig. 2) ``forward(x, mask, phase=...)`` runs them inside the module's
own forward, so DistributedDataParallel sees every parameter each step uses: ``"cvae"`` returns the
attention's :class:`~vidaction.models.generative.gaf.GAFOutput` (the frame-level CVAE on detached
backbone features, no head), ``"segment"`` a :class:`GAFStep` with the head's output on the enhanced
maps and, with ``nonaction=True``, on the ``(1 - lambda)``-weighted maps (eq. 13).

The backbone's classifier (``classifier_prefix``, I3D's ``logits``) is not used and gets no
gradient, so it is frozen; it stays in the state dict, so the backbone's own checkpoints load
unchanged. ``freeze_backbone_bn`` keeps the backbone's BatchNorm layers in eval mode with frozen
affine parameters, as AFSD does (``freeze_bn``, ``freeze_bn_affine``): windows come one or a few at a
time, too few for batch statistics.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch
from torch import Tensor, nn

from vidaction.models.generative.gaf import GenerativeAttention
from vidaction.models.heads.afsd import AFSDHead, AFSDOutput, CoarseClassOutput
from vidaction.models.registry import create_model, register_model


class GAFStep(NamedTuple):
    """One ``"segment"`` training step of a detector with GAF: the head on ``F'`` (``action``), its
    coarse class logits on the non-action maps (``nonaction``, or ``None``; eq. 13's background term
    needs nothing else) and the attention's output (``gaf``)."""

    action: AFSDOutput
    nonaction: CoarseClassOutput | None
    gaf: object


class TemporalDetector(nn.Module):
    """``backbone`` (or ``None``) + ``attention`` (or ``None``) + :class:`AFSDHead`."""

    def __init__(self, head: AFSDHead, backbone: nn.Module | None = None,
                 endpoints: Sequence[str] = ("Mixed_4f", "Mixed_5c"), attention: nn.Module | None = None,
                 freeze_backbone_bn: bool = True) -> None:
        super().__init__()
        self.backbone = backbone
        self.endpoints = tuple(endpoints)
        self.attention = attention
        self.head = head
        self.freeze_backbone_bn = freeze_backbone_bn and backbone is not None
        if backbone is not None:
            prefix = getattr(backbone, "classifier_prefix", None)
            for name, parameter in backbone.named_parameters():
                if (prefix and name.startswith(prefix)) or (self.freeze_backbone_bn and _in_batch_norm(backbone, name)):
                    parameter.requires_grad_(False)
        if backbone is not None:
            names = [info["name"] for info in getattr(backbone, "feature_info", [])]
            missing = [name for name in self.endpoints if name not in names]
            if missing:
                raise ValueError(f"backbone has no endpoint(s) {missing}; it has {names}")
            if len(self.endpoints) != len(head.input_spec):
                raise ValueError(f"{len(self.endpoints)} endpoints for a head with {len(head.input_spec)} inputs")

    def train(self, mode: bool = True) -> "TemporalDetector":
        super().train(mode)
        if self.freeze_backbone_bn:
            for module in self.backbone.modules():
                if isinstance(module, nn.modules.batchnorm._BatchNorm):
                    module.eval()
        return self

    def head_inputs(self, x: Tensor) -> list[Tensor]:
        """The head's inputs before attention: the backbone endpoints, or ``[x]`` for features."""
        if self.backbone is None:
            return [x]
        features = self.backbone.forward_features(x, until=self.endpoints[-1])
        return [features[name] for name in self.endpoints]

    def forward_enhanced(self, x: Tensor, mask: Tensor) -> AFSDOutput:
        """The head's output on the inputs as inference enhances them (:meth:`GenerativeAttention.enhance`:
        no non-action maps, no CVAE pass), in either mode; without attention the same as ``forward``."""
        features = self.head_inputs(x)
        if self.attention is not None:
            features = self.attention.enhance(features, mask)
        return self.head(features, mask)

    def forward(self, x: Tensor, mask: Tensor, phase: str | None = None,
                nonaction: bool = False) -> AFSDOutput | GAFStep | object:
        if phase is None:
            features = self.head_inputs(x)
            if self.attention is not None:
                features = self.attention(features, mask)
            return self.head(features, mask)
        if self.attention is None or not hasattr(self.attention, "set_phase"):
            raise ValueError(f"phase={phase!r} needs a generative attention (model.attention=gaf)")
        if phase == "cvae":
            with torch.no_grad():
                features = self.head_inputs(x)
            return self.attention.set_phase("cvae").attend(features, mask)
        if phase != "segment":
            raise ValueError(f"phase must be None, 'cvae' or 'segment', got {phase!r}")
        gaf = self.attention.set_phase("segment").attend(self.head_inputs(x), mask)
        background = self.head.coarse_classification(gaf.nonaction_maps, mask) if nonaction else None
        return GAFStep(self.head(gaf.features, mask), background, gaf)


def afsd_detector(num_classes: int, backbone: nn.Module | None = None,
                  endpoints: Sequence[str] = ("Mixed_4f", "Mixed_5c"), input_channels: int = 0, crop: int = 96,
                  feature_spatial: tuple[int, int] | None = None, freeze_backbone_bn: bool = True,
                  attention: str | None = None, attention_options: dict | None = None,
                  **head_options) -> TemporalDetector:
    """AFSD sized to its inputs.

    Frame mode (``backbone`` given): the head reads ``endpoints`` with the channels and temporal
    strides of the backbone's ``feature_info`` and the spatial sizes of a ``crop x crop`` input
    (``ceil(crop / reduction_s)``, TensorFlow "same" padding: 6x6 and 3x3 for I3D at 96 px). Feature
    mode (``backbone=None``): one input of ``input_channels`` at stride 1, ``(B, C, T)``, or
    ``(B, C, T, H, W)`` with ``feature_spatial=(H, W)``. ``head_options`` go to :class:`AFSDHead`;
    ``attention="gaf"`` inserts GAF's generative attention sized to the head's inputs, built with
    ``attention_options``.
    """
    if attention not in (None, "", "gaf"):
        raise ValueError(f"attention must be '' or 'gaf', got {attention!r}")
    if backbone is None:
        if input_channels < 1:
            raise ValueError("feature input needs input_channels, the C of the features")
        head = AFSDHead([input_channels], num_classes, in_strides=(1,), in_spatial=[feature_spatial], **head_options)
        return TemporalDetector(head, attention=_attention(attention, head, attention_options))
    info = {entry["name"]: entry for entry in backbone.feature_info}
    missing = [name for name in endpoints if name not in info]
    if missing:
        raise ValueError(f"backbone has no endpoint(s) {missing}; it has {list(info)}")
    head = AFSDHead([info[name]["num_chs"] for name in endpoints], num_classes,
                    in_strides=[info[name]["reduction_t"] for name in endpoints],
                    in_spatial=[(-(-crop // info[name]["reduction_s"]),) * 2 for name in endpoints], **head_options)
    return TemporalDetector(head, backbone, endpoints, _attention(attention, head, attention_options),
                            freeze_backbone_bn=freeze_backbone_bn)


@register_model
def afsd(num_classes: int, backbone: str = "", backbone_options: dict | None = None,
         endpoints: Sequence[str] = ("Mixed_4f", "Mixed_5c"), input_channels: int = 0, crop: int = 96,
         feature_spatial: Sequence[int] | None = None, channels: int = 512, proposal_channels: int = 512,
         frame_channels: int = 512, num_levels: int = 6, tower_layers: int = 2, norm_groups: int = 32,
         distance_multipliers: Sequence[float] | None = None, freeze_backbone_bn: bool = True,
         attention: str = "", attention_options: dict | None = None) -> TemporalDetector:
    """The registered detector: :func:`afsd_detector` with its backbone named, not passed.

    ``backbone`` is ``""`` for pre-extracted features (``input_channels``, ``feature_spatial``) or a
    registered backbone (``"i3d"``) built by ``create_model(backbone, num_classes=1,
    **backbone_options)`` (its classifier is unused; ``backbone_options`` may hold ``num_frames``
    and e.g. ``in_channels=2`` for flow); load its weights afterwards into ``model.backbone``.
    ``attention="gaf"`` inserts GAF built with ``attention_options`` (e.g. ``use_cvae``). The other
    arguments are :func:`afsd_detector`'s and :class:`AFSDHead`'s. The detector works at any
    window length, so it takes no ``num_frames``.
    """
    if backbone_options and not backbone:
        raise ValueError(f"backbone_options {backbone_options} without a backbone (feature input)")
    trunk = create_model(backbone, 1, **(backbone_options or {})) if backbone else None
    return afsd_detector(num_classes, trunk, endpoints, input_channels, crop, feature_spatial, freeze_backbone_bn,
                         attention, attention_options, channels=channels, proposal_channels=proposal_channels,
                         frame_channels=frame_channels, num_levels=num_levels, tower_layers=tower_layers,
                         norm_groups=norm_groups, distance_multipliers=distance_multipliers)


def _attention(kind: str | None, head: AFSDHead, options: dict | None) -> nn.Module | None:
    if not kind:
        return None
    return GenerativeAttention.for_inputs(head.input_spec, head.num_classes, **(options or {}))


def _in_batch_norm(model: nn.Module, parameter_name: str) -> bool:
    owner = model.get_submodule(parameter_name.rpartition(".")[0])
    return isinstance(owner, nn.modules.batchnorm._BatchNorm)
