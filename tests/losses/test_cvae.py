"""GAF's frame-level losses: eq. 7 (reconstruction + beta KL with a lambda-conditioned prior) and eq. 15 (L_R)."""

import math

import pytest
import torch
from torch.distributions import Normal, kl_divergence

from vidaction.losses.cvae import cvae_loss, gaussian_kl, kl_term, masked_mean, reconstruction_error, \
    representation_loss
from vidaction.models.generative.cvae import CVAEOutput
from vidaction.models.generative.gaf import GenerativeAttention


def cvae_output(batch=2, steps=5, latent=3, channels=4, spatial=(2, 2), seed=0, mask=None, prior=True):
    torch.manual_seed(seed)
    shape = (batch, channels, steps, *spatial)
    mean = torch.randn(batch, steps, latent)
    return CVAEOutput(reconstruction=torch.randn(shape), target=torch.randn(shape),
                      mask=torch.ones(batch, steps, dtype=torch.bool) if mask is None else mask,
                      prior_mean=torch.randn(batch, steps, latent), prior_logvar=torch.randn(batch, steps, latent),
                      posterior_mean=mean if prior else None,
                      posterior_logvar=torch.randn(batch, steps, latent) if prior else None, latent=mean)


def test_kl_is_zero_when_the_posterior_is_the_prior():
    mean, logvar = torch.randn(4, 7), torch.randn(4, 7)
    assert torch.allclose(gaussian_kl(mean, logvar, mean, logvar), torch.zeros(4, 7), atol=1e-6)


def test_kl_matches_torch_distributions_and_a_monte_carlo_estimate():
    torch.manual_seed(0)
    mq, lq, mp, lp = torch.randn(3), torch.randn(3), torch.randn(3), torch.randn(3)
    q, p = Normal(mq, (0.5 * lq).exp()), Normal(mp, (0.5 * lp).exp())
    closed = gaussian_kl(mq, lq, mp, lp)
    assert torch.allclose(closed, kl_divergence(q, p), atol=1e-5)
    z = q.sample((400_000,))
    monte_carlo = (q.log_prob(z) - p.log_prob(z)).mean(0)
    assert torch.allclose(closed, monte_carlo, atol=0.03, rtol=0.02)
    assert bool((closed >= 0).all())


def test_kl_against_the_default_prior_is_the_code_formula():
    mean, logvar, lam = torch.randn(2, 4, 3), torch.randn(2, 4, 3), torch.rand(2, 4)
    prior = lam.unsqueeze(-1).expand(-1, -1, 3)
    code = -0.5 * (1 + logvar - (mean - prior).pow(2) - logvar.exp()).mean()
    out = CVAEOutput(torch.zeros(2, 1, 4), torch.zeros(2, 1, 4), torch.ones(2, 4, dtype=torch.bool), prior,
                     torch.zeros_like(prior), mean, logvar, mean)
    assert torch.allclose(kl_term(out), code, atol=1e-6)


def test_perfect_reconstruction_costs_nothing_and_the_error_is_a_masked_mean():
    out = cvae_output()
    assert reconstruction_error(out.target, out.target, out.mask) == 0
    assert torch.allclose(reconstruction_error(out.reconstruction, out.target, out.mask),
                          (out.reconstruction - out.target).pow(2).mean())
    mask = out.mask.clone()
    mask[1, 3:] = False
    expected = torch.cat([(out.reconstruction - out.target)[0].pow(2).flatten(),
                          (out.reconstruction - out.target)[1, :, :3].pow(2).flatten()]).mean()
    assert torch.allclose(reconstruction_error(out.reconstruction, out.target, mask), expected)


def test_padded_steps_change_nothing_even_when_not_finite():
    mask = torch.ones(2, 5, dtype=torch.bool)
    mask[0, 2:] = False
    out = cvae_output(mask=mask)
    garbage = out._replace(reconstruction=out.reconstruction.clone(), posterior_logvar=out.posterior_logvar.clone())
    garbage.reconstruction[0, :, 2:] = float("nan")
    garbage.posterior_logvar[0, 2:] = float("inf")
    for a, b in zip(cvae_loss([out])[1].values(), cvae_loss([garbage])[1].values()):
        assert torch.allclose(a, b)
    assert torch.allclose(representation_loss([out]), representation_loss([garbage]))


def test_an_empty_mask_gives_zero_without_nan_in_values_or_gradients():
    out = cvae_output(mask=torch.zeros(2, 5, dtype=torch.bool))
    reconstruction = out.reconstruction.clone().requires_grad_()
    posterior = out.posterior_mean.clone().requires_grad_()
    total, terms = cvae_loss([out._replace(reconstruction=reconstruction, posterior_mean=posterior)])
    assert total == 0 and all(v == 0 for v in terms.values())
    total.backward()
    assert torch.equal(reconstruction.grad, torch.zeros_like(reconstruction))
    assert torch.equal(posterior.grad, torch.zeros_like(posterior))
    assert masked_mean(torch.randn(2, 5, 3), torch.zeros(2, 5, dtype=torch.bool), time_axis=1) == 0


def test_cvae_loss_sums_maps_and_weights_the_kl_by_beta():
    first, second = cvae_output(seed=1), cvae_output(seed=2, spatial=())
    total, terms = cvae_loss([first, second], beta=0.25)
    rec = sum(reconstruction_error(o.reconstruction, o.target, o.mask) for o in (first, second))
    kl = sum(gaussian_kl(o.posterior_mean, o.posterior_logvar, o.prior_mean, o.prior_logvar).mean()
             for o in (first, second))
    assert torch.allclose(terms["reconstruction"], rec) and torch.allclose(terms["kl"], kl)
    assert torch.allclose(total, rec + 0.25 * kl)


def test_representation_loss_is_the_squared_error_of_the_prior_reconstruction():
    gaf = GenerativeAttention([4], 2, (1,), (None,), attention_channels=4, norm_groups=2, cvae_channels=2,
                              cvae_hidden=8, latent_size=3).train().set_phase("segment")
    x = torch.randn(2, 4, 6)
    frame = gaf.attend([x], torch.ones(2, 6, dtype=torch.bool)).frame
    assert torch.allclose(representation_loss(frame), (frame[0].reconstruction - x).pow(2).mean())
    assert representation_loss([frame[0]._replace(reconstruction=x)]) == 0


@pytest.mark.parametrize("detach_target", [False, True])
def test_representation_loss_reaches_the_map_unless_detached(detach_target):
    out = cvae_output(prior=False)
    target = out.target.clone().requires_grad_()
    reconstruction = out.reconstruction.clone().requires_grad_()
    loss = representation_loss([out._replace(reconstruction=reconstruction, target=target)], detach_target)
    assert torch.allclose(loss, (out.reconstruction - out.target).pow(2).mean())
    loss.backward()
    assert torch.allclose(reconstruction.grad, 2 * (out.reconstruction - out.target) / out.target.numel())
    if detach_target:
        assert target.grad is None
    else:
        assert torch.allclose(target.grad, -reconstruction.grad)


def test_misuse_is_explained():
    with pytest.raises(ValueError, match="posterior path"):
        kl_term(cvae_output(prior=False))
    with pytest.raises(ValueError, match="at least one"):
        cvae_loss([])
    with pytest.raises(ValueError, match=r"\(B, T\) mask"):
        reconstruction_error(torch.zeros(2, 3, 4), torch.zeros(2, 3, 4), torch.ones(2, 3, dtype=torch.bool))


def test_kl_of_standard_normals_by_hand():
    kl = gaussian_kl(torch.tensor([1.0]), torch.tensor([0.0]), torch.tensor([0.0]), torch.tensor([math.log(4.0)]))
    # 0.5 * (log 4 - 0 + (1 + 1) / 4 - 1)
    assert torch.allclose(kl, torch.tensor([0.5 * (math.log(4.0) + 0.5 - 1.0)]))
