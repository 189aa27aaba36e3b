"""Temporal shift (TSM's layer): the official semantics against a naive reference, and its gradient."""

import pytest
import torch

from vidaction.models.layers.temporal_shift import temporal_shift


def naive_shift(x, num_frames, fold_div):
    """Frame-by-frame, channel-by-channel statement of the official semantics."""
    nt, c = x.shape[:2]
    fold = c // fold_div
    out = torch.zeros_like(x)
    for v in range(nt // num_frames):
        for t in range(num_frames):
            i = v * num_frames + t
            for ch in range(c):
                if ch < fold:
                    out[i, ch] = x[i + 1, ch] if t + 1 < num_frames else 0
                elif ch < 2 * fold:
                    out[i, ch] = x[i - 1, ch] if t > 0 else 0
                else:
                    out[i, ch] = x[i, ch]
    return out


@pytest.mark.parametrize("fold_div", [2, 4, 8])
def test_shift_equals_naive_reference(fold_div):
    x = torch.randn(2 * 5, 16, 3, 2)
    assert torch.equal(temporal_shift(x, 5, fold_div), naive_shift(x, 5, fold_div))


def test_shift_gradient_is_the_reverse_shift():
    x = torch.randn(4, 8, 2, 2, requires_grad=True)
    g = torch.randn(4, 8, 2, 2)
    temporal_shift(x, 4, 4).backward(g)
    # The adjoint of shifting back is shifting forward: fold 0 of frame t+1 receives frame t's gradient.
    assert torch.equal(x.grad[1:, :2], g[:-1, :2]) and torch.all(x.grad[0, :2] == 0)


def test_shift_gradient_matches_autograd_through_the_naive_reference():
    x = torch.randn(2 * 4, 16, 3, 3, requires_grad=True)
    g = torch.randn(2 * 4, 16, 3, 3)
    (ours,) = torch.autograd.grad(temporal_shift(x, 4, 8), x, g)
    (reference,) = torch.autograd.grad(naive_shift(x, 4, 8), x, g)
    assert torch.equal(ours, reference)
    assert torch.autograd.gradcheck(lambda t: temporal_shift(t, 2, 4), torch.randn(4, 8, 2, 2, dtype=torch.float64,
                                                                                 requires_grad=True))


def naive_online_shift(x, num_frames, fold_div):
    """TSM's online shift, frame by frame: the first fold from the previous frame (zeros at t = 0)."""
    nt, c = x.shape[:2]
    fold = c // fold_div
    out = x.clone()
    for v in range(nt // num_frames):
        for t in range(num_frames):
            i = v * num_frames + t
            out[i, :fold] = x[i - 1, :fold] if t > 0 else 0
    return out


@pytest.mark.parametrize("fold_div", [1, 4, 8])
def test_online_shift_equals_naive_reference_and_takes_nothing_from_the_future(fold_div):
    x = torch.randn(2 * 5, 16, 3, 2)
    out = temporal_shift(x, 5, fold_div, mode="online")
    assert torch.equal(out, naive_online_shift(x, 5, fold_div))
    later = x.view(2, 5, 16, 3, 2).clone()
    later[:, 3:] = torch.randn(2, 2, 16, 3, 2)
    changed = temporal_shift(later.view(10, 16, 3, 2), 5, fold_div, mode="online").view(2, 5, 16, 3, 2)
    assert torch.equal(changed[:, :3], out.view(2, 5, 16, 3, 2)[:, :3])


def test_online_shift_gradient_matches_autograd_through_the_naive_reference():
    x = torch.randn(2 * 4, 16, 3, 3, requires_grad=True)
    g = torch.randn(2 * 4, 16, 3, 3)
    (ours,) = torch.autograd.grad(temporal_shift(x, 4, 8, mode="online"), x, g)
    (reference,) = torch.autograd.grad(naive_online_shift(x, 4, 8), x, g)
    assert torch.equal(ours, reference)
    assert torch.autograd.gradcheck(lambda t: temporal_shift(t, 2, 4, mode="online"),
                                    torch.randn(4, 8, 2, 2, dtype=torch.float64, requires_grad=True))


def test_shift_mode_is_a_model_option_recorded_in_arch_and_config():
    from vidaction.config import ModelConfig
    from vidaction.engine.tasks.recognition import build_model
    from vidaction.models import create_model_from_arch
    from vidaction.models.layers.temporal_shift import TemporalShift

    model = build_model(ModelConfig(name="tsm_tiny", options={"shift_mode": "online"}), 3, 4, input_size=32)
    assert model.arch["kwargs"]["shift_mode"] == "online"
    rebuilt = create_model_from_arch(model.arch)
    modes = {m.mode for net in (model, rebuilt) for m in net.modules() if isinstance(m, TemporalShift)}
    assert modes == {"online"}
    model(torch.randn(2, 3, 4, 32, 32)).logsumexp(1).sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())
    with pytest.raises(ValueError, match="shift_mode must be one of bidirectional, online"):
        TemporalShift(4, 8, mode="past")
