"""HCML prime motion block (Sec. 3.2, A.3): shapes, Z = F + g(P) live from the start, gradients, use of the
cost volume."""

import pytest
import torch

from vidaction.models.flops import count_macs
from vidaction.models.motion.prime_motion import PrimeMotionBlock


@pytest.mark.parametrize("layout", ["5d", "4d"])
def test_shapes_in_both_layouts(layout):
    block = PrimeMotionBlock(32, num_frames=4)
    x = torch.randn(2, 32, 4, 9, 10) if layout == "5d" else torch.randn(8, 32, 9, 10)
    assert block(x).shape == x.shape
    assert block.motion_channels == 4 and block.cost_channels == 49
    assert block.last_motion.shape == (2, 4, 4, 9, 10)


def test_both_layouts_compute_the_same_block():
    torch.manual_seed(0)
    block = PrimeMotionBlock(16, num_frames=3).eval()
    video = torch.randn(2, 16, 3, 8, 8)
    out_5d = block(video)
    motion_5d = block.last_motion
    out_4d = block(video.transpose(1, 2).reshape(6, 16, 8, 8))
    assert torch.allclose(out_4d, out_5d.transpose(1, 2).reshape(6, 16, 8, 8), atol=1e-6)
    assert torch.allclose(block.last_motion, motion_5d, atol=1e-6)


@pytest.mark.parametrize("training", [True, False])
def test_output_is_the_input_plus_g_of_the_motion_features_from_initialisation(training):
    torch.manual_seed(0)
    block = PrimeMotionBlock(16).train(training)
    x = torch.randn(2, 16, 4, 8, 8)
    out = block(x)
    motion = block.last_motion
    conv, norm = block.g
    projected = torch.einsum("oc,nctkl->notkl", conv.weight.flatten(1), motion)
    if training:
        mean, var = projected.mean(dim=(0, 2, 3, 4)), projected.var(dim=(0, 2, 3, 4), unbiased=False)
    else:
        mean, var = norm.running_mean, norm.running_var
    shape = (1, -1, 1, 1, 1)
    g = (projected - mean.view(shape)) / (var.view(shape) + norm.eps).sqrt() * norm.weight.view(shape) \
        + norm.bias.view(shape)
    assert torch.allclose(out, x + g, atol=1e-5)
    assert g.abs().sum() > 0  # Sec. 3.1: Z = F + g(P) carries the motion features from the first step
    with torch.no_grad():
        norm.weight.zero_()
        norm.bias.zero_()
    assert torch.equal(block(x), x)  # the residual form: without g the block is the identity


def test_gradients_reach_every_parameter_from_the_first_step():
    torch.manual_seed(0)
    block = PrimeMotionBlock(16)
    x = torch.randn(2, 16, 4, 8, 8, requires_grad=True)
    out = block(x)
    out.square().sum().backward()
    for name, parameter in block.named_parameters():
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name
    assert x.grad.abs().sum() > 0


def test_motion_features_of_a_frame_depend_on_the_next_frame_through_the_cost_volume():
    torch.manual_seed(0)
    block = PrimeMotionBlock(16).eval()
    x = torch.randn(1, 16, 4, 8, 8)
    block(x)
    reference = block.last_motion.clone()
    next_changed = x.clone()
    next_changed[:, :, 1] = torch.randn(1, 16, 8, 8)
    block(next_changed)
    assert not torch.allclose(block.last_motion[:, :, 0], reference[:, :, 0])
    later_changed = x.clone()
    later_changed[:, :, 2] = torch.randn(1, 16, 8, 8)
    block(later_changed)
    assert torch.equal(block.last_motion[:, :, 0], reference[:, :, 0])


@pytest.mark.parametrize("channels, reduction, max_displacement, stride, kernel_size",
                         [(256, 8, 6, 2, 3), (64, 4, 4, 2, 5), (16, 8, 3, 1, 1)])
def test_parameter_count(channels, reduction, max_displacement, stride, kernel_size):
    block = PrimeMotionBlock(channels, reduction=reduction, max_displacement=max_displacement, stride=stride,
                             kernel_size=kernel_size)
    reduced = channels // reduction
    cost = (2 * (max_displacement // stride) + 1) ** 2
    motion = reduced
    expected = (channels * reduced + 2 * reduced  # 1x1x1 reduction + BN
                + 2 * cost  # BN of the cost volume
                + (cost + reduced) * motion * kernel_size ** 2 + 2 * motion  # fusing 2D conv + BN
                + motion * channels + 2 * channels)  # g + BN
    assert sum(p.numel() for p in block.parameters()) == expected


def test_macs_at_the_paper_setting_are_the_three_convolutions():
    channels, frames, size = 256, 8, 56
    macs, params = count_macs(PrimeMotionBlock(channels, num_frames=frames), (frames, channels, size, size))
    reduced, cost = channels // 8, 49
    per_pixel = channels * reduced + (cost + reduced) * reduced * 9 + reduced * channels
    assert macs == per_pixel * frames * size * size
    assert params == sum(p.numel() for p in PrimeMotionBlock(channels).parameters())


def test_rejects_bad_arguments():
    with pytest.raises(ValueError):
        PrimeMotionBlock(16, kernel_size=2)
    with pytest.raises(ValueError):
        PrimeMotionBlock(16)(torch.zeros(4, 16, 8, 8))
