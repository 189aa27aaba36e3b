"""GAF: generative attention on backbone features (Wang et al., "Generative Model-Based Feature
Attention Module for Video Action Analysis", Sec. III, eqs. 1-16, Fig. 2-3) for the detector:
:class:`GenerativeAttention`, the ``attention`` of :class:`~vidaction.models.detector.TemporalDetector`.
The recognition variant (Table II) is :mod:`vidaction.models.generative.gaf_classifier`.

For every backbone map ``f^i`` (I3D frame mode: Mixed_4f ``(B, 832, T/4, 6, 6)`` and Mixed_5c
``(B, 1024, T/8, 3, 3)``; feature mode: ``(B, C, T)``, treated as a ``1 x 1`` grid) it holds:

- the segment-level GAF (Sec. III-B-2, eqs. 10-12, Fig. 3b): an attention head giving ``lambda_t``,
  eq. 11's ``f_ai`` / ``f_n-ai``, eq. 12's classifier and eq. 10's enhanced maps ``F'``
  (:mod:`vidaction.models.generative.segment_attention`);
- the frame-level GAF (Sec. III-B-1, eqs. 6-9, Fig. 3a): a conditional VAE per map, trained by eq. 7
  and, frozen, giving eq. 15's ``L_R`` through the reconstruction ``X_R`` of eq. 16
  (:mod:`vidaction.models.generative.cvae`; losses in :mod:`vidaction.losses.cvae`);

and runs them in the alternating schedule's phases (:meth:`GenerativeAttention.set_phase`): ``"cvae"``
trains the CVAE on detached maps, segment-level GAF frozen; ``"segment"`` trains the segment level,
``L_R`` through the frozen CVAE; eval mode gives lambda, ``F'``, ``f_ai``, logits. The detector sees ``F'``.
Decisions: docs/papers/gaf.md#what-the-detector-sees, #alternating-schedule.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch
from torch import Tensor, nn

from vidaction.models.generative.cvae import CVAEOutput, FeatureCVAE
from vidaction.models.generative.segment_attention import (Spatial, SegmentAttentionHead, SegmentAttentionOutput,
                                                           segment_attention, weighted_maps)

PHASES = ("cvae", "segment")


class GAFOutput(NamedTuple):
    """Everything one forward of :class:`GenerativeAttention` leaves for losses and pictures.

    - ``features``: ``F'`` (eq. 10), one tensor per input map with its shape; the detector's input.
    - ``nonaction_maps``: the ``(1 - lambda)``-weighted maps for eq. 13's non-action term (phase
      ``"segment"`` only, else ``None``).
    - ``segment``: :class:`SegmentAttentionOutput`.
    - ``frame``: one :class:`CVAEOutput` per map (phase ``"cvae"``, or ``"segment"`` with a CVAE),
      else ``None``.
    - ``phase``: ``"cvae"``, ``"segment"`` or ``"inference"`` (eval mode).
    - ``mask``: the ``(B, T)`` input mask.
    """

    features: list[Tensor]
    nonaction_maps: list[Tensor] | None
    segment: SegmentAttentionOutput
    frame: list[CVAEOutput] | None
    phase: str
    mask: Tensor

    @property
    def num_collapsed(self) -> int:
        """How many (window, map) pairs have a collapsed lambda (for the engine's warning)."""
        return int(self.segment.collapsed.sum().item())


class GenerativeAttention(nn.Module):
    """GAF between a backbone and the AFSD head: ``features (list), mask (B, T) -> F' (list, same shapes)``.

    At I3D's 256 x 96 x 96 windows (Mixed_4f ``(1, 832, 64, 6, 6)``, Mixed_5c ``(1, 1024, 32, 3, 3)``,
    20 classes): 21.67 M segment-level parameters (what inference keeps) and 9.78 M in the CVAEs;
    1.21 G MACs at inference, 2.02 G in step 1, 1.53 G in step 2 (``torch.utils.flop_counter``).

    ``forward`` returns the enhanced maps ``F'`` (eq. 10) and keeps the whole :class:`GAFOutput` in
    ``last_output``; :meth:`attend` returns it. What runs depends on :meth:`set_phase` in training
    mode and is the inference path in eval mode (module docstring); :meth:`enhance` runs the
    inference path in either mode.

    Args:
        in_channels: C of each map, finest first (I3D: ``(832, 1024)``).
        num_classes: action classes K (the classifier has ``K + 1`` outputs, background at 0).
        in_strides: input steps per map step (I3D: ``(4, 8)``; features: ``(1,)``).
        in_spatial: each map's ``(H, W)``, or ``None`` for ``(B, C, T)`` maps (96 px crops: ``((6, 6), (3, 3))``).
        attention_channels: width of the attention heads (512).
        norm_groups: GroupNorm groups of the attention heads (32).
        use_cvae: build the frame-level GAF (False: segment-level only, Table IV without ``L_R``).
        cvae_channels: the CVAE's reduced channels (128).
        cvae_hidden: width of the CVAE's linear layers (512).
        latent_size: D of ``z`` (128).
        learned_prior: an MLP ``p(z | lambda)`` instead of ``N(lambda * 1, I)``.
        sample_prior_at_inference: :meth:`reconstruct` samples ``z`` by default instead of taking
            the prior's mean (training's step 2 always samples).
        eps: added to eq. 11's denominators.
        collapse_tolerance: lambda within this of 0 (of 1) at every valid step counts as collapsed.
    """

    def __init__(self, in_channels: Sequence[int], num_classes: int, in_strides: Sequence[int] = (4, 8),
                 in_spatial: Sequence[Spatial] | None = ((6, 6), (3, 3)), attention_channels: int = 512,
                 norm_groups: int = 32, use_cvae: bool = True, cvae_channels: int = 128, cvae_hidden: int = 512,
                 latent_size: int = 128, learned_prior: bool = False, sample_prior_at_inference: bool = False,
                 eps: float = 1e-6, collapse_tolerance: float = 1e-3) -> None:
        super().__init__()
        in_channels = [int(c) for c in in_channels]
        spatial = list(in_spatial) if in_spatial is not None else [None] * len(in_channels)
        if not in_channels or len(in_strides) != len(in_channels) or len(spatial) != len(in_channels):
            raise ValueError(f"need one stride and one spatial size per map: in_channels={in_channels}, "
                             f"in_strides={list(in_strides)}, in_spatial={spatial}")
        if any(int(s) < 1 for s in in_strides):
            raise ValueError(f"in_strides must be >= 1, got {list(in_strides)}")
        if num_classes < 1:
            raise ValueError(f"num_classes must be >= 1, got {num_classes}")
        if eps <= 0 or not 0 <= collapse_tolerance < 0.5:
            raise ValueError(f"need eps > 0 and 0 <= collapse_tolerance < 0.5, got {eps}, {collapse_tolerance}")
        self.in_channels = tuple(in_channels)
        self.in_strides = tuple(int(s) for s in in_strides)
        self.in_spatial = tuple(None if hw is None else (int(hw[0]), int(hw[1])) for hw in spatial)
        self.num_classes = num_classes
        self.eps = float(eps)
        self.collapse_tolerance = float(collapse_tolerance)
        self.sample_prior_at_inference = sample_prior_at_inference
        self.attention_heads = nn.ModuleList(
            SegmentAttentionHead(c, hw, attention_channels, norm_groups) for c, hw in zip(in_channels, self.in_spatial))
        self.classifiers = nn.ModuleList(nn.Linear(c, num_classes + 1) for c in in_channels)
        for classifier in self.classifiers:
            nn.init.normal_(classifier.weight, std=0.01)
            nn.init.zeros_(classifier.bias)
        self.cvae = nn.ModuleList(
            FeatureCVAE(c, hw, cvae_channels, cvae_hidden, latent_size, learned_prior)
            for c, hw in zip(in_channels, self.in_spatial)) if use_cvae else None
        self.phase = "segment"
        self.last_output: GAFOutput | None = None

    @classmethod
    def for_inputs(cls, specs: Sequence, num_classes: int, **options) -> GenerativeAttention:
        """GAF sized to the maps ``specs`` describe: one
        :class:`~vidaction.models.heads.afsd_pyramid.InputSpec` (``channels``, ``stride``,
        ``spatial``) per map, finest first, as a detector head's ``input_spec`` gives them;
        ``options`` go to the constructor."""
        return cls([spec.channels for spec in specs], num_classes, [spec.stride for spec in specs],
                   [spec.spatial for spec in specs], **options)

    def set_phase(self, phase: str) -> GenerativeAttention:
        """``"cvae"`` (Fig. 2 step 1) or ``"segment"`` (step 2); used in training mode only."""
        if phase not in PHASES:
            raise ValueError(f"phase must be one of {PHASES}, got {phase!r}")
        if phase == "cvae" and self.cvae is None:
            raise ValueError("phase 'cvae' needs the frame-level GAF (built with use_cvae=False or deployed)")
        self.phase = phase
        return self

    def segment_parameters(self) -> list[nn.Parameter]:
        """Segment-level GAF: attention heads and classifiers (step 2, with the detector's parameters)."""
        return [*self.attention_heads.parameters(), *self.classifiers.parameters()]

    def cvae_parameters(self) -> list[nn.Parameter]:
        """Frame-level GAF: the CVAEs (step 1); empty without a CVAE."""
        return [] if self.cvae is None else list(self.cvae.parameters())

    def deploy(self) -> GenerativeAttention:
        """Drop the training-only frame-level GAF; the detector's input ``F'`` is unchanged."""
        self.cvae = None
        self.phase = "segment"
        return self

    def forward(self, features: Sequence[Tensor], mask: Tensor) -> list[Tensor]:
        return self.attend(features, mask).features

    def attend(self, features: Sequence[Tensor], mask: Tensor) -> GAFOutput:
        """The full :class:`GAFOutput` (also kept in ``last_output``)."""
        self.last_output = self._attend(features, mask, self.phase if self.training else "inference")
        return self.last_output

    def enhance(self, features: Sequence[Tensor], mask: Tensor) -> list[Tensor]:
        """``F'`` as inference computes it, in either mode: lambda and the enhanced maps, without the
        training phases' non-action maps and CVAE pass; ``last_output`` is left as it was."""
        return self._attend(features, mask, "inference").features

    def _attend(self, features: Sequence[Tensor], mask: Tensor, phase: str) -> GAFOutput:
        masks = self._check(features, mask)
        with torch.set_grad_enabled(torch.is_grad_enabled() and phase != "cvae"):
            segment, action_weights, nonaction_weights = segment_attention(
                self.attention_heads, self.classifiers, features, masks, self.eps, self.collapse_tolerance)
            enhanced = weighted_maps(features, action_weights, masks)
            nonaction_maps = weighted_maps(features, nonaction_weights, masks) if phase == "segment" else None
        frame = None
        if phase == "cvae":
            frame = [cvae.posterior_path(x, lam.detach(), m)
                     for cvae, x, lam, m in zip(self.cvae, features, segment.lambdas, masks)]
        elif phase == "segment" and self.cvae is not None:
            frame = [cvae.prior_path(x, lam, m, sample=True, frozen=True)
                     for cvae, x, lam, m in zip(self.cvae, features, segment.lambdas, masks)]
        return GAFOutput(enhanced, nonaction_maps, segment, frame, phase, mask)

    def reconstruct(self, features: Sequence[Tensor], mask: Tensor, sample: bool | None = None) -> list[CVAEOutput]:
        """``X_R`` (eq. 16) of every map from the prior ``p(z | lambda)`` with lambda of the segment
        attention: its mean, or a sample with ``sample`` (default ``sample_prior_at_inference``)."""
        if self.cvae is None:
            raise ValueError("reconstruct() needs the frame-level GAF (built with use_cvae=False or deployed)")
        masks = self._check(features, mask)
        sample = self.sample_prior_at_inference if sample is None else sample
        lambdas = [head(x, m) for head, x, m in zip(self.attention_heads, features, masks)]
        return [cvae.prior_path(x, lam, m, sample=sample, frozen=False)
                for cvae, x, lam, m in zip(self.cvae, features, lambdas, masks)]

    def _check(self, features: Sequence[Tensor], mask: Tensor) -> list[Tensor]:
        if mask.dim() != 2 or mask.dtype != torch.bool:
            raise ValueError(f"mask {tuple(mask.shape)} {mask.dtype} must be a (B, T) bool tensor")
        if len(features) != len(self.in_channels):
            raise ValueError(f"GAF was built for {len(self.in_channels)} maps, got {len(features)}")
        masks = []
        for i, (x, stride, channels, hw) in enumerate(
                zip(features, self.in_strides, self.in_channels, self.in_spatial)):
            level_mask = mask[:, ::stride]
            expected = (mask.shape[0], channels, level_mask.shape[1], *(hw or ()))
            if tuple(x.shape) != expected:
                raise ValueError(f"features[{i}] {tuple(x.shape)} must be {expected}: (B, C, ceil(T / {stride})"
                                 f"{', H, W' if hw else ''}) for a mask of T = {mask.shape[1]}")
            masks.append(level_mask)
        return masks


def gaf_for_head(head: nn.Module, **options) -> GenerativeAttention:
    """A :class:`GenerativeAttention` sized to what an :class:`~vidaction.models.heads.afsd.AFSDHead`
    reads (its ``input_spec`` and ``num_classes``); ``options`` go to its constructor."""
    return GenerativeAttention.for_inputs(head.input_spec, head.num_classes, **options)
