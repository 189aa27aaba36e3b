"""GAF: generative attention on backbone features (Wang et al., "Generative Model-Based Feature
Attention Module for Video Action Analysis", Sec. III, eqs. 1-16, Fig. 2-3), for the detector
(:class:`GenerativeAttention`, the ``attention`` of :class:`~vidaction.models.detector.TemporalDetector`)
and for recognition (:class:`GAFClassifier`, Table II).

Parts, for every backbone map ``f^i`` (I3D frame mode: Mixed_4f ``(B, 832, T/4, 6, 6)`` and Mixed_5c
``(B, 1024, T/8, 3, 3)``; feature mode: ``(B, C, T)``, treated as a ``1 x 1`` grid):

- Segment-level GAF (Sec. III-B-2, Fig. 3b): an attention head gives ``lambda_t in [0, 1]`` per step
  (:class:`SegmentAttentionHead`); the action-instance and non-action features of eq. 11,
  ``f_ai = sum_t lambda_t f_t / sum_t lambda_t`` and ``f_n-ai`` with ``1 - lambda`` (``f_t`` averaged
  over space); a classifier of both into ``K + 1`` classes, background at 0 (eq. 12); the enhanced
  maps ``F'`` (eq. 10) that feed the detector, and the ``(1 - lambda)``-weighted maps on which the
  detector's own losses give eq. 13 (:mod:`vidaction.losses.gaf`).
- Frame-level GAF (Sec. III-B-1, Fig. 3a): a conditional VAE per map keeping its spatial size
  (:class:`FeatureCVAE`): encoder ``q(z | f_t, lambda_t)`` (eqs. 6, 8), prior ``p(z | lambda_t)``,
  decoder ``p(f_t | z, lambda_t)`` (eq. 9); trained by eq. 7 and, frozen, giving eq. 15's ``L_R``
  through the reconstruction ``X_R`` of eq. 16 (:mod:`vidaction.losses.cvae`).

The authors' code (Generative-Feature-Model/GAF, ``GAF/thumos14/{BDNet,train,test,multisegment_loss}.py``,
cited as file:line) and DGAM (bfshi/DGAM-Weakly-Supervised-Action-Localization, ref. [24], whose
CVAE GAF copies) settle most of what the paper leaves open. Decisions:

- One attention head, hence one ``lambda``, per input map, each at its map's resolution: the code
  has ``Att_Head_4f`` and ``Att_Head_5c`` (BDNet.py:404-418) and attends each map with its own
  (train.py:242-256); a shared, resampled lambda would tie Mixed_4f's 4-frame steps to Mixed_5c's
  8-frame ones. ``lambda_t`` is a scalar per step as in eq. 11 and DGAM (``Att_Head`` has one output,
  model.py:28-42). The GAF code's attention is per channel, ``(B, C_i, T_i)``, made by a ``Linear``
  over a time axis first interpolated to ``C_i`` steps (BDNet.py:502-512), which fixes ``T = 256``
  in the weights; that is not reproduced.
- Attention head (eq. 10's ``f_conv1D(theta_i(x_i))``): ``theta_i`` is a ``1 x n x n`` conv to
  ``attention_channels`` (512) + GroupNorm(32) + ReLU (the code's ``deconv1``/``deconv2``,
  BDNet.py:388-403, which the paper calls a ``1 x n x n`` deconvolution), then a ``k = 3`` temporal
  conv + GroupNorm + ReLU (``Att_Head``'s ``Unit1D(512, C, 3)``), then a ``1``-tap conv to one channel
  and a sigmoid in place of the code's ``Linear`` over time. GroupNorm statistics are taken over
  the valid steps only and padded steps are zeroed before the temporal conv, so a padded window
  gives exactly the lambda of the unpadded one.
- ``F'`` (eq. 10): ``F'_t = f_t * lambda_t / mean_valid(lambda)``, i.e. ``T_valid`` times eq. 11's
  weights ``w_t = lambda_t / (sum lambda + eps)``, per window and per map, 0 at padded steps; the
  factors average to 1 over the valid steps, so a constant lambda gives ``F' = F``. The non-action
  maps use ``1 - lambda`` alike. The code divides by ``attention.sum()`` (train.py:248-254,
  test.py:123-125), the sum of its per-channel ``(B, C_i, T_i, 1, 1)`` attention over the batch,
  the channels and the steps, so its ``F'`` is about ``1 / (B C_i T_i mean(attention))`` times the
  map. That scale is not removed downstream: the detector's input projection is a conv with a bias
  before its GroupNorm. Not followed, for two reasons. The code's scale depends on the batch: its
  training batch is 8 windows (configs/thumos14.yaml) and its test batch one (test.py:106), so
  training and test scales differ 8-fold and a window's ``F'`` depends on the rest of its batch.
  And taken per window (``f_t w_t``, the code's scale at the paper's batch of 1, Sec. IV-B, without
  the channel axis that lambda here does not have), it cost the full GAF 4.0 +- 2.5 points of
  average mAP against the mean on the synthetic detection data, lower in each of 7 seeds, with no
  difference without ``L_R`` (BENCHMARKS.md). ``f_fpm`` ("averages two layers") is the AFSD
  pyramid, which adds the upsampled Mixed_5c level to the Mixed_4f one.
- What the detector sees: ``F'`` in training and at inference (train.py:258-261, test.py:128-130).
  ``X_R`` of eq. 16 enters only ``L_R`` (train.py:331-340); the code never feeds it to the detector,
  so inference never needs the CVAE and :meth:`GenerativeAttention.deploy` drops it.
- Eq. 11: ``f_t`` is averaged over space, padded steps get weight 0, and ``eps`` (1e-6, DGAM's
  background epsilon; DGAM adds 1 to the foreground denominator, function.py:130-131) keeps
  ``f_ai`` (``f_n-ai``) finite, 0, when lambda is all 0 (all 1). A window whose valid lambdas are all
  within ``collapse_tolerance`` of 0 or of 1 is flagged in ``collapsed`` (``(B, M)``).
- Eq. 12's classifier: one ``Linear(C_i, K + 1)`` per map (DGAM's ``Clf_Head`` is one linear layer,
  model.py:18-25; background at index 0 as in AFSD, not last as in DGAM). The GAF code has no pooled
  classifier; its eqs. 12-13 are the detector's losses on the foreground- and background-weighted
  maps (train.py:258-293), which :func:`vidaction.losses.gaf.gaf_detection_loss` computes from
  ``GAFOutput.nonaction_maps``. Both are kept: eq. 11 defines ``f_ai`` as a vector in ``R^d``.
- CVAE encoder (eq. 8): ``theta_i`` a ``1 x 1 x 1`` conv reducing ``C_i`` to ``cvae_channels``
  (128) + ReLU, as the paper says (the code uses a ``C -> C`` ``1 x n x n`` conv + GroupNorm + ReLU,
  BDNet.py:520-530), the ``n x n`` grid flattened per step, ``lambda_t`` appended, three linear
  layers (``fc1``-``fc3``, BDNet.py:532-547) to the mean and log-variance of a ``latent_size`` (128,
  DGAM model.py:73; the code uses ``C``) Gaussian.
- CVAE decoder (eq. 9): three linear layers on ``[z, lambda_t]`` + ReLU to ``cvae_channels``, then a
  ``1 x n x n`` transposed conv back to ``C_i x n x n`` (BDNet.py:553-582, whose ``C -> C``
  deconvolution ends in GroupNorm + ReLU). Here the output is linear, so features of either sign
  (feature mode) can be reconstructed. No normalisation inside the CVAE: every step is independent.
- Prior ``p(z | lambda_t) = N(lambda_t * 1, I)``, no parameters: the code samples
  ``randn + att`` (BDNet.py:687, 691) and its KL compares the posterior with mean ``attention`` and
  unit variance (multisegment_loss.py:20-26), as DGAM (model.py:140, loss.py:71).
  ``learned_prior=True`` uses a small MLP ``lambda_t -> (mean, log-variance)`` instead.
- Alternating schedule (Fig. 2, Sec. IV-B; train.py:190-221 then 223-346), :meth:`set_phase`:

  - ``"cvae"`` (step 1): lambda, ``F'``, ``f_ai`` and the logits are computed under ``no_grad`` (the
    segment-level GAF is frozen and gives the "initial lambda"); the CVAE sees the detached map
    ``f.detach()`` and lambda, samples ``z`` from the posterior (reparameterised) and decodes it.
    ``L_CVAE``'s gradients reach the CVAE only, and ``F'`` carries no graph, so nothing before it
    learns in this phase (the code freezes the whole detector network, train.py:190-195).
  - ``"segment"`` (step 2): everything segment-level keeps its graph (to the backbone, if it is
    trained); ``nonaction_maps`` are built for eq. 13; with a CVAE, ``X_R = decoder(z, lambda)`` with
    one reparameterised sample ``z ~ p(z | lambda)`` (eq. 15, ``L = 1``; BDNet.py:687), computed with
    detached copies of the CVAE's parameters (``torch.func.functional_call``), so ``L_R``'s gradient
    reaches lambda but no CVAE parameter. The target map keeps its graph, so that ``L_R`` also pulls
    the backbone's features towards ``X_R``, as the code, whose target is not detached
    (train.py:331-335); :func:`~vidaction.losses.cvae.representation_loss` detaches it on request
    (``gaf.representation_detach_features``), leaving lambda as ``L_R``'s only path (eq. 4
    maximises over lambda alone). The code's target is, through its aliased feature dict
    (``feat_dict = video_feature``, train.py:239), the last map written into it (the
    background-weighted map, train.py:272-273, or an augmented clip's, 322-323); here it is eq. 15's
    ``f_t``, the map the CVAE was trained on in step 1.

  Sec. III-B-2 says the opposite once ("the Segment-GAF is frozen ... the Frame-GAF module and the
  Action Analyzer module are updated"); Fig. 2, Sec. IV-B and the code agree with the above.
  No parameter's ``requires_grad`` is ever changed, so optimisers may be built at any time from
  :meth:`cvae_parameters` and :meth:`segment_parameters` (plus the detector's own).
- Eval mode (``model.eval()``, any phase): lambda, ``F'``, ``f_ai`` and the logits only.
  :meth:`reconstruct` gives ``X_R`` from the prior's mean (deterministic) or, with
  ``sample_prior_at_inference`` or ``sample=True``, from a sample (the code always samples).
- Recognition (:class:`GAFClassifier`, Table II, footnote 2: only ``L_clf``): the backbone's last
  map averaged over space, one attention head on ``(N, C, T')`` (a ``1``-tap ``theta``, so any input
  size works), and the backbone's own classifier reset to ``K + 1`` outputs and applied through its
  ``forward_head`` to ``f_ai`` and ``f_n-ai`` as ``1 x 1 x 1`` maps. Scores ``(N, K)`` are ``f_ai``'s
  logits without the background column.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call

from vidaction.models.backbones.i3d import InceptionI3d, i3d
from vidaction.models.backbones.resnet_tsm import ResNetTSM, tsm_r50
from vidaction.models.registry import register_model

PHASES = ("cvae", "segment")
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


class CVAEOutput(NamedTuple):
    """Frame-level GAF of one map.

    - ``reconstruction``: the map's shape; the posterior path's reconstruction (phase ``"cvae"``) or
      ``X_R`` from the prior (phase ``"segment"``, :meth:`GenerativeAttention.reconstruct`).
    - ``target``: the input map it is compared with: detached on the posterior path (eq. 7 trains
      the CVAE alone); with its graph on the prior path (whether ``L_R`` reaches it is
      :func:`~vidaction.losses.cvae.representation_loss`'s ``detach_target``).
    - ``mask``: ``(B, T_i)`` bool valid steps.
    - ``prior_mean`` / ``prior_logvar``: ``(B, T_i, D)`` of ``p(z | lambda)``.
    - ``posterior_mean`` / ``posterior_logvar``: ``(B, T_i, D)`` of ``q(z | f, lambda)``; ``None``
      on the prior path.
    - ``latent``: ``(B, T_i, D)`` the ``z`` that was decoded.
    """

    reconstruction: Tensor
    target: Tensor
    mask: Tensor
    prior_mean: Tensor
    prior_logvar: Tensor
    posterior_mean: Tensor | None
    posterior_logvar: Tensor | None
    latent: Tensor


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


def _weighted_maps(features: Sequence[Tensor], weights: Sequence[Tensor], masks: Sequence[Tensor]) -> list[Tensor]:
    """Eq. 10's ``F'``: each map times ``T_valid * w_t`` (``lambda_t / mean_valid(lambda)``)."""
    return [x * _per_step(w * m.sum(1, keepdim=True), x) for x, w, m in zip(features, weights, masks)]


def _collapsed(lambdas: Tensor, mask: Tensor, tolerance: float) -> Tensor:
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


class CVAEEncoder(nn.Module):
    """``q(z | f_t, lambda_t)`` (eqs. 6, 8): ``(B, C, T, H, W), (B, T) -> mean, logvar (B, T, D)``."""

    def __init__(self, channels: int, spatial: tuple[int, int], reduced_channels: int, hidden: int,
                 latent_size: int) -> None:
        super().__init__()
        self.theta = nn.Conv3d(channels, reduced_channels, 1)
        self.layers = nn.Sequential(
            nn.Linear(reduced_channels * spatial[0] * spatial[1] + 1, hidden), nn.ReLU(),
            nn.Linear(hidden, hidden), nn.ReLU(),
            nn.Linear(hidden, 2 * latent_size))

    def forward(self, x: Tensor, lambdas: Tensor) -> tuple[Tensor, Tensor]:
        h = F.relu(self.theta(x)).transpose(1, 2).flatten(2)
        mean, logvar = self.layers(torch.cat([h, lambdas.unsqueeze(-1)], dim=-1)).chunk(2, dim=-1)
        return mean, logvar


class CVAEDecoder(nn.Module):
    """``p(f_t | z, lambda_t)``'s mean (eq. 9): ``(B, T, D), (B, T) -> (B, C, T, H, W)``."""

    def __init__(self, channels: int, spatial: tuple[int, int], reduced_channels: int, hidden: int,
                 latent_size: int) -> None:
        super().__init__()
        self.layers = nn.Sequential(
            nn.Linear(latent_size + 1, hidden), nn.ReLU(),
            nn.Linear(hidden, hidden), nn.ReLU(),
            nn.Linear(hidden, reduced_channels), nn.ReLU())
        self.theta = nn.ConvTranspose3d(reduced_channels, channels, (1, *spatial))

    def forward(self, z: Tensor, lambdas: Tensor) -> Tensor:
        h = self.layers(torch.cat([z, lambdas.unsqueeze(-1)], dim=-1))
        return self.theta(h.transpose(1, 2)[..., None, None])


class ConditionalPrior(nn.Module):
    """``p(z | lambda_t)``: ``(B, T) -> mean, logvar (B, T, D)``.

    Fixed (default): ``N(lambda_t * 1, I)`` as the GAF and DGAM code. ``learned``: an MLP
    ``Linear(1, hidden) -> ReLU -> Linear(hidden, 2 D)`` of ``lambda_t``.
    """

    def __init__(self, latent_size: int, learned: bool = False, hidden: int = 64) -> None:
        super().__init__()
        self.latent_size = latent_size
        self.net = None
        if learned:
            self.net = nn.Sequential(nn.Linear(1, hidden), nn.ReLU(), nn.Linear(hidden, 2 * latent_size))

    def forward(self, lambdas: Tensor) -> tuple[Tensor, Tensor]:
        if self.net is None:
            mean = lambdas.unsqueeze(-1).expand(*lambdas.shape, self.latent_size)
            return mean, torch.zeros_like(mean)
        mean, logvar = self.net(lambdas.unsqueeze(-1)).chunk(2, dim=-1)
        return mean, logvar


def _call(module: nn.Module, frozen: bool, *args: Tensor):
    """``module(*args)``, or with detached copies of its parameters (gradients reach ``args`` only)."""
    if not frozen:
        return module(*args)
    return functional_call(module, {name: p.detach() for name, p in module.named_parameters()}, args)


class FeatureCVAE(nn.Module):
    """Frame-level GAF of one map (Sec. III-B-1): a CVAE of ``f_t`` given ``lambda_t``, spatial size kept.

    Maps are ``(B, C, T, H, W)`` or ``(B, C, T)`` (a ``1 x 1`` grid); lambda ``(B, T)``.

    Args:
        channels: C.
        spatial: ``(H, W)``, or ``None`` for ``(B, C, T)`` maps.
        reduced_channels: channels after the encoder's ``1 x 1 x 1`` conv and before the decoder's
            ``1 x n x n`` transposed conv.
        hidden: width of the linear layers.
        latent_size: D, the dimension of ``z``.
        learned_prior: an MLP prior instead of ``N(lambda * 1, I)``.
    """

    def __init__(self, channels: int, spatial: Spatial = None, reduced_channels: int = 128, hidden: int = 512,
                 latent_size: int = 128, learned_prior: bool = False) -> None:
        super().__init__()
        self.spatial = None if spatial is None else (int(spatial[0]), int(spatial[1]))
        grid = self.spatial or (1, 1)
        self.encoder = CVAEEncoder(channels, grid, reduced_channels, hidden, latent_size)
        self.decoder = CVAEDecoder(channels, grid, reduced_channels, hidden, latent_size)
        self.prior = ConditionalPrior(latent_size, learned_prior)

    def posterior_path(self, x: Tensor, lambdas: Tensor, mask: Tensor) -> CVAEOutput:
        """Eq. 7's forward: ``z ~ q(z | f, lambda)`` (reparameterised), reconstruction, prior; all trainable."""
        target = x.detach()
        grid = self._as_grid(target)
        mean, logvar = self.encoder(grid, lambdas)
        z = mean + torch.randn_like(mean) * torch.exp(0.5 * logvar)
        prior_mean, prior_logvar = self.prior(lambdas)
        return CVAEOutput(self._like(self.decoder(z, lambdas), target), target, mask, prior_mean, prior_logvar,
                          mean, logvar, z)

    def prior_path(self, x: Tensor, lambdas: Tensor, mask: Tensor, sample: bool, frozen: bool) -> CVAEOutput:
        """Eq. 16's ``X_R = decoder(z, lambda)`` with ``z`` a sample (or the mean) of ``p(z | lambda)``,
        and ``x`` as the target, graph kept; ``frozen`` uses detached parameters, so gradients reach
        ``lambdas`` (and the target) only."""
        prior_mean, prior_logvar = _call(self.prior, frozen, lambdas)
        z = prior_mean + torch.randn_like(prior_mean) * torch.exp(0.5 * prior_logvar) if sample else prior_mean
        reconstruction = _call(self.decoder, frozen, z, lambdas)
        return CVAEOutput(self._like(reconstruction, x), x, mask, prior_mean, prior_logvar, None, None, z)

    def _as_grid(self, x: Tensor) -> Tensor:
        expected = 3 if self.spatial is None else 5
        if x.dim() != expected or (self.spatial is not None and tuple(x.shape[3:]) != self.spatial):
            raise ValueError(f"the CVAE expects a {expected}-D map with spatial size {self.spatial}, "
                             f"got {tuple(x.shape)}")
        return x[..., None, None] if self.spatial is None else x

    def _like(self, reconstruction: Tensor, target: Tensor) -> Tensor:
        return reconstruction[..., 0, 0] if target.dim() == 3 else reconstruction


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
            segment, action_weights, nonaction_weights = self._segment(features, masks)
            enhanced = _weighted_maps(features, action_weights, masks)
            nonaction_maps = _weighted_maps(features, nonaction_weights, masks) if phase == "segment" else None
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

    def _segment(self, features: Sequence[Tensor], masks: list[Tensor]) -> tuple[SegmentAttentionOutput, list, list]:
        lambdas, action, nonaction, action_w, nonaction_w = [], [], [], [], []
        for head, x, m in zip(self.attention_heads, features, masks):
            lam = head(x, m)
            pooled = pool_space(x)
            w_ai = attention_weights(lam, m, self.eps)
            w_nai = attention_weights(1.0 - lam, m, self.eps)
            lambdas.append(lam)
            action_w.append(w_ai)
            nonaction_w.append(w_nai)
            action.append(torch.einsum("bct,bt->bc", pooled, w_ai))
            nonaction.append(torch.einsum("bct,bt->bc", pooled, w_nai))
        collapsed = torch.stack([_collapsed(lam, m, self.collapse_tolerance) for lam, m in zip(lambdas, masks)], dim=1)
        segment = SegmentAttentionOutput(
            lambdas=lambdas, masks=masks, action_features=action, nonaction_features=nonaction,
            action_logits=[c(f) for c, f in zip(self.classifiers, action)],
            nonaction_logits=[c(f) for c, f in zip(self.classifiers, nonaction)], collapsed=collapsed)
        return segment, action_w, nonaction_w

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
    """A :class:`GenerativeAttention` sized to an :class:`~vidaction.models.heads.afsd.AFSDHead`'s
    inputs (channels, strides, spatial sizes, classes); ``options`` go to its constructor."""
    projections = head.pyramid.projections
    return GenerativeAttention([p.conv.in_channels for p in projections], head.num_classes,
                               head.pyramid.in_strides, [p.spatial for p in projections], **options)


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
        collapse_tolerance: as :class:`GenerativeAttention`.
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
                                               _collapsed(lambdas, mask, self.collapse_tolerance))
        return self.last_output

    def forward_head(self, features: dict[str, Tensor]) -> Tensor:
        return self.attend(features).scores

    def enhanced_maps(self, features: dict[str, Tensor]) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """``(original, action, nonaction, lambdas)`` over the last map's steps: the map averaged over
        space ``(N, C, T')``, it weighted as eq. 10's ``F'`` by ``lambda`` and by ``1 - lambda``
        (``T' w_t``, so a constant lambda leaves it unchanged), and ``lambda`` ``(N, T')`` (GAF Fig. 6)."""
        output = self.attend(features)
        pooled, mask = self._pooled(features)
        action, nonaction = (_weighted_maps([pooled], [attention_weights(weights, mask, self.eps)], [mask])[0]
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
