"""GAF's frame-level losses: the CVAE's ELBO (Sec. III-B-1, eq. 7) and the representation loss
``L_R`` (Sec. III-B-2, eq. 15), on :class:`~vidaction.models.generative.cvae.CVAEOutput` s.

- Eq. 7, ``L_CVAE = reconstruction + beta * KL(q(z | f, lambda) || p(z | lambda))`` with one
  posterior sample: the squared error of the decoder's mean and the closed-form KL between diagonal
  Gaussians (:func:`gaussian_kl`) against the prior carried by the output.
- Eq. 15, ``L_R = sum_t ||f_t - f_psi(lambda_t, z_t)||^2`` with ``z_t`` one sample of the prior,
  decoded by the frozen CVAE (``X_R``, eq. 16); by default its gradient also reaches the map,
  ``detach_target=True`` leaves lambda its only path.
- Squared errors are averaged over every valid element, the KL over the valid steps and latent
  dimensions (0 when no step is valid); several maps (Mixed_4f, Mixed_5c) are summed.

Decisions and the authors' code: docs/papers/gaf.md#cvae-losses.

Each loss returns unweighted terms for logging and the engine's NaN check, as
:func:`vidaction.losses.detection.afsd_loss`.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor

from vidaction.models.generative.cvae import CVAEOutput


def gaussian_kl(mean_q: Tensor, logvar_q: Tensor, mean_p: Tensor, logvar_p: Tensor) -> Tensor:
    """``KL(N(mean_q, e^logvar_q) || N(mean_p, e^logvar_p))`` per dimension (same shapes in and out):
    ``0.5 * (logvar_p - logvar_q + (e^logvar_q + (mean_q - mean_p)^2) / e^logvar_p - 1)``."""
    return 0.5 * (logvar_p - logvar_q + (logvar_q.exp() + (mean_q - mean_p).pow(2)) * (-logvar_p).exp() - 1.0)


def masked_mean(values: Tensor, mask: Tensor, time_axis: int) -> Tensor:
    """Mean of ``values`` over every element of the steps where ``mask`` ``(B, T)`` is true; the
    steps are axis ``time_axis`` of ``values`` (1 for ``(B, T, D)`` latents, 2 for ``(B, C, T, ...)``
    maps). 0 when no step is valid; invalid elements (even NaN) never reach the result."""
    shape = [1] * values.dim()
    shape[0], shape[time_axis] = mask.shape
    per_step = values[0].numel() // values.shape[time_axis]
    count = (mask.sum() * per_step).clamp(min=1).to(values.dtype)
    return values.where(mask.view(shape), 0.0).sum() / count


def reconstruction_error(reconstruction: Tensor, target: Tensor, mask: Tensor) -> Tensor:
    """Mean squared error over the valid steps of maps ``(B, C, T, H, W)`` or ``(B, C, T)``, mask ``(B, T)``."""
    if reconstruction.shape != target.shape or target.dim() < 3 or mask.shape != (target.shape[0], target.shape[2]):
        raise ValueError(f"reconstruction {tuple(reconstruction.shape)}, target {tuple(target.shape)} and mask "
                         f"{tuple(mask.shape)} must be equal (B, C, T, ...) maps and a (B, T) mask")
    return masked_mean((reconstruction - target).pow(2), mask, time_axis=2)


def kl_term(output: CVAEOutput) -> Tensor:
    """Eq. 7's KL of one map, averaged over valid steps and latent dimensions."""
    if output.posterior_mean is None:
        raise ValueError("the KL term needs the posterior path (phase 'cvae'); this output comes from the prior")
    kl = gaussian_kl(output.posterior_mean, output.posterior_logvar, output.prior_mean, output.prior_logvar)
    return masked_mean(kl, output.mask, time_axis=1)


def cvae_loss(outputs: Sequence[CVAEOutput], beta: float = 0.1) -> tuple[Tensor, dict[str, Tensor]]:
    """Eq. 7 summed over the maps: ``(reconstruction + beta * kl, {"reconstruction", "kl"})``.

    ``beta = 0.1`` is the GAF and DGAM code's (``0.1 * kld + 1 * mse``); the paper leaves it open.
    """
    if not outputs:
        raise ValueError("cvae_loss needs at least one CVAE output (GAF in phase 'cvae')")
    reconstruction = sum(reconstruction_error(o.reconstruction, o.target, o.mask) for o in outputs)
    kl = sum(kl_term(o) for o in outputs)
    return reconstruction + beta * kl, {"reconstruction": reconstruction, "kl": kl}


def representation_loss(outputs: Sequence[CVAEOutput], detach_target: bool = False) -> Tensor:
    """Eq. 15's ``L_R`` summed over the maps: squared error of ``X_R`` (one prior sample) to the map.

    ``detach_target=False`` (the GAF code's): the gradient also reaches the map ``o.target``, pulling
    the backbone's features towards ``X_R``; ``True``: the map is a constant and only ``X_R``'s
    inputs (lambda) receive gradient. The code weights ``L_R`` by ``0.5 * min(epoch, E) / E``
    (``train.py:340``, ``E`` the last epoch), a ramp the engine applies.
    """
    if not outputs:
        raise ValueError("representation_loss needs at least one CVAE output (GAF in phase 'segment' with a CVAE)")
    return sum(reconstruction_error(o.reconstruction, o.target.detach() if detach_target else o.target, o.mask)
               for o in outputs)
