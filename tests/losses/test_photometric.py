"""Frame-reconstruction loss of HCML (Sec. 3.3, eqs. 3-4)."""

import pytest
import torch

from vidaction.losses.photometric import (DEFAULT_ZETA, charbonnier, photometric_loss, reconstruction_loss,
                                          smoothness_loss)
from vidaction.models.motion.flow import reconstruct_frames

FLOOR = (1e-3 ** 2) ** 0.45


def shifted_frames(num_frames: int = 3) -> torch.Tensor:
    """``(2, 3, T, 8, 10)``: frame ``t + 1`` is frame ``t`` moved right by one pixel."""
    first = torch.rand(2, 3, 8, 10)
    return torch.stack([first.roll(t, dims=-1) for t in range(num_frames)], dim=2)


def constant_flow(u: float, v: float, shape: tuple[int, ...]) -> torch.Tensor:
    return torch.tensor([u, v]).view(1, 2, *[1] * (len(shape) - 2)).expand(shape)


def test_charbonnier_is_the_generalised_penalty():
    x = torch.tensor([0.0, 0.5, -2.0])
    assert torch.allclose(charbonnier(x), (x ** 2 + 1e-6) ** 0.45)
    assert torch.allclose(charbonnier(x, alpha=0.5, eps=0.1), torch.sqrt(x ** 2 + 0.01))


def test_perfect_reconstruction_costs_the_floor_whatever_the_mask():
    target = torch.rand(2, 3, 5, 6)
    valid = (torch.rand(2, 1, 5, 6) > 0.3).float()
    assert torch.isclose(photometric_loss(target, target.clone(), valid), torch.tensor(FLOOR))
    assert photometric_loss(target, target + 0.1 * torch.randn_like(target), valid) > FLOOR


def test_photometric_loss_is_the_mean_over_valid_entries_only():
    target, reconstructed = torch.rand(2, 3, 4, 5), torch.rand(2, 3, 4, 5)
    valid = (torch.rand(2, 1, 4, 5) > 0.5).float()
    valid[0, 0, 0, 0] = 1
    penalties = [charbonnier(target[b, :, y, x] - reconstructed[b, :, y, x])
                 for b in range(2) for y in range(4) for x in range(5) if valid[b, 0, y, x]]
    expected = torch.cat(penalties).mean()
    assert torch.isclose(photometric_loss(target, reconstructed, valid), expected)
    corrupted = reconstructed.clone()
    corrupted[valid.expand_as(corrupted) == 0] = 100.0
    assert torch.isclose(photometric_loss(target, corrupted, valid), expected)


def test_nothing_valid_gives_zero_not_nan():
    reconstructed = torch.rand(1, 3, 4, 4, requires_grad=True)
    loss = photometric_loss(torch.rand(1, 3, 4, 4), reconstructed, torch.zeros(1, 1, 4, 4))
    loss.backward()
    assert loss == 0 and torch.isfinite(reconstructed.grad).all()


def test_true_flow_beats_zero_flow_on_a_one_pixel_translation():
    frames = shifted_frames()
    true_flow = constant_flow(1.0, 0.0, (2, 2, 2, 8, 10))
    reconstructed, valid = reconstruct_frames(frames, true_flow)
    assert torch.isclose(photometric_loss(frames[:, :, :-1], reconstructed, valid), torch.tensor(FLOOR))
    assert reconstruction_loss(frames, true_flow) < reconstruction_loss(frames, torch.zeros_like(true_flow))


def test_smoothness_is_its_floor_for_a_constant_flow_and_larger_otherwise():
    assert torch.isclose(smoothness_loss(constant_flow(1.5, -3.0, (2, 2, 3, 6, 7))), torch.tensor(4 * FLOOR))
    assert smoothness_loss(torch.randn(2, 2, 3, 6, 7)) > 4 * FLOOR


def test_smoothness_follows_eq_4_term_by_term():
    flow = torch.randn(2, 2, 5, 6)
    expected = sum(charbonnier(component.diff(dim=dim)).mean()
                   for component in (flow[:, 0], flow[:, 1]) for dim in (-1, -2))
    assert torch.isclose(smoothness_loss(flow), expected)


@pytest.mark.parametrize("zeta", [DEFAULT_ZETA, 2.0])
def test_reconstruction_loss_is_photometric_plus_zeta_smoothness(zeta):
    frames, flow = torch.rand(1, 3, 3, 8, 8), torch.randn(1, 2, 2, 4, 4)
    reconstructed, valid = reconstruct_frames(frames, flow)
    expected = photometric_loss(frames[:, :, :-1], reconstructed, valid) + zeta * smoothness_loss(flow)
    assert torch.isclose(reconstruction_loss(frames, flow, zeta=zeta), expected)


def test_reconstruction_loss_sends_gradient_to_the_flow():
    flow = (0.5 * torch.randn(1, 2, 2, 4, 4)).requires_grad_()
    reconstruction_loss(torch.rand(1, 3, 3, 8, 8), flow).backward()
    assert flow.grad.abs().sum() > 0
