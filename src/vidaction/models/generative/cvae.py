"""GAF's frame-level attention: a conditional VAE of each backbone map given the segment-level
attention (Wang et al., "Generative Model-Based Feature Attention Module for Video Action Analysis",
Sec. III-B-1, eqs. 6-9, Fig. 3a).

One :class:`FeatureCVAE` per map keeps its spatial size: encoder ``q(z | f_t, lambda_t)`` (eqs. 6, 8),
prior ``p(z | lambda_t)``, decoder ``p(f_t | z, lambda_t)`` (eq. 9). It is trained by eq. 7 (the loss
is :func:`vidaction.losses.cvae.cvae_loss`) along :meth:`FeatureCVAE.posterior_path` and, frozen,
gives eq. 15's ``L_R`` through the reconstruction ``X_R`` of eq. 16 along
:meth:`FeatureCVAE.prior_path` (:func:`vidaction.losses.cvae.representation_loss`). Maps are
``(B, C, T, H, W)`` or ``(B, C, T)`` (a ``1 x 1`` grid), lambda ``(B, T)``, ``z`` ``(B, T, D)``.

Prior ``N(lambda_t * 1, I)`` without parameters (``learned_prior=True``: an MLP); linear decoder output.
Decisions: docs/papers/gaf.md#frame-level-cvae.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call


class CVAEOutput(NamedTuple):
    """Frame-level GAF of one map.

    - ``reconstruction``: the map's shape; the posterior path's reconstruction (phase ``"cvae"``) or
      ``X_R`` from the prior (phase ``"segment"``,
      :meth:`~vidaction.models.generative.gaf.GenerativeAttention.reconstruct`).
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

    def __init__(self, channels: int, spatial: tuple[int, int] | None = None, reduced_channels: int = 128,
                 hidden: int = 512, latent_size: int = 128, learned_prior: bool = False) -> None:
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
