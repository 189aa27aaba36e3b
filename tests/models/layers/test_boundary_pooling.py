"""AFSD boundary max pooling: the CUDA kernel's region rules, exact first-arg-max gradients."""

import pytest
import torch

from vidaction.models.layers.boundary_pooling import boundary_max_pool, start_end_max_pool


def naive_boundary_max_pool(features, segments, lengths=None):
    """AFSD's ``BoundaryPoolingForward`` loop: truncate, clamp, scan ``[l, r]`` with a strict ``>``."""
    batch, channels, steps = features.shape
    out = features.new_zeros(batch, channels, segments.shape[1])
    for b in range(batch):
        last = steps - 1 if lengths is None else int(lengths[b]) - 1
        for n in range(segments.shape[1]):
            left = min(max(0, int(segments[b, n, 0])), last)
            right = min(max(0, int(segments[b, n, 1])), last)
            for c in range(channels):
                best = features[b, c, left]
                for t in range(left + 1, right + 1):
                    if features[b, c, t] > best:
                        best = features[b, c, t]
                out[b, c, n] = best
    return out


@pytest.mark.parametrize("steps", [1, 2, 7, 16, 33])
def test_matches_the_kernel_loop_including_out_of_range_and_empty_regions(steps):
    torch.manual_seed(steps)
    features = torch.randn(2, 3, steps)
    segments = torch.rand(2, 9, 2) * (steps + 8) - 4  # fractional, negative, past the end, some end < start
    assert torch.equal(boundary_max_pool(features, segments), naive_boundary_max_pool(features, segments))


def test_valid_lengths_keep_padding_out_of_every_region():
    torch.manual_seed(0)
    features = torch.randn(2, 4, 20)
    features[1, :, 12:] = 100.0  # padding that must never be pooled
    segments = torch.tensor([[[2.0, 30.0], [15.0, 19.0]], [[5.0, 18.0], [14.0, 16.0]]])
    lengths = torch.tensor([20, 12])
    out = boundary_max_pool(features, segments, lengths)
    assert torch.equal(out, naive_boundary_max_pool(features, segments, lengths))
    assert out[1].max() < 100.0
    assert torch.equal(out[1, :, 1], features[1, :, 11])  # a region wholly in the padding pools the last valid step


def test_empty_region_pools_its_start_and_nan_counts_as_zero():
    features = torch.arange(10.0).view(1, 1, 10)
    segments = torch.tensor([[[6.0, 2.0], [float("nan"), 3.0], [-float("inf"), float("inf")]]])
    assert boundary_max_pool(features, segments).flatten().tolist() == [6.0, 3.0, 9.0]


def test_gradient_goes_to_the_first_maximum_and_adds_over_segments():
    features = torch.tensor([[[0.0, 5.0, 1.0, 5.0, 2.0, 7.0]]], requires_grad=True)
    segments = torch.tensor([[[0.0, 4.0], [1.0, 3.0], [2.0, 4.0], [3.0, 5.0]]])
    out = boundary_max_pool(features, segments)
    assert out.flatten().tolist() == [5.0, 5.0, 5.0, 7.0]
    out.backward(torch.tensor([[[1.0, 10.0, 100.0, 1000.0]]]))
    assert features.grad.flatten().tolist() == [0.0, 11.0, 0.0, 100.0, 0.0, 1000.0]


def test_gradcheck_in_float64():
    torch.manual_seed(0)
    # Distinct values one apart: the arg-max cannot flip under gradcheck's perturbation.
    features = (torch.randperm(2 * 3 * 13).double() * 0.5).view(2, 3, 13).requires_grad_()
    segments = torch.rand(2, 6, 2, dtype=torch.float64) * 17 - 2
    assert torch.autograd.gradcheck(lambda x: boundary_max_pool(x, segments, torch.tensor([13, 9])), (features,))


def test_start_end_pool_uses_channel_halves_like_the_kernel():
    torch.manual_seed(0)
    features = torch.randn(2, 6, 15)
    start, end = torch.rand(2, 4, 2) * 15, torch.rand(2, 4, 2) * 15
    out = start_end_max_pool(features, start, end)
    assert out.shape == (2, 6, 4)
    assert torch.equal(out[:, :3], naive_boundary_max_pool(features[:, :3], start))
    assert torch.equal(out[:, 3:], naive_boundary_max_pool(features[:, 3:], end))


def test_many_segments_on_a_long_sequence():
    torch.manual_seed(0)
    features = torch.randn(1, 2, 300)
    starts = torch.randint(0, 300, (1, 500, 1)).float()
    segments = torch.cat([starts, starts + torch.randint(0, 120, (1, 500, 1))], dim=-1)
    out = boundary_max_pool(features, segments)
    expected = torch.stack([features[0, :, int(s):min(int(e), 299) + 1].max(dim=1).values
                            for s, e in segments[0]], dim=1)
    assert torch.equal(out[0], expected)


def test_bad_shapes_are_rejected():
    with pytest.raises(ValueError, match="must be \\(B, C, T\\)"):
        boundary_max_pool(torch.zeros(2, 3), torch.zeros(2, 1, 2))
    with pytest.raises(ValueError, match="must be \\(B, N, 2\\)"):
        boundary_max_pool(torch.zeros(2, 3, 4), torch.zeros(2, 1, 4))
    with pytest.raises(ValueError, match="even channel count"):
        start_end_max_pool(torch.zeros(1, 3, 4), torch.zeros(1, 1, 2), torch.zeros(1, 1, 2))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_matches_cpu_values_and_gradients():
    torch.manual_seed(0)
    features = torch.randn(2, 8, 64, requires_grad=True)
    segments = torch.rand(2, 40, 2) * 70 - 3
    weights = torch.randn(2, 8, 40)
    boundary_max_pool(features, segments).mul(weights).sum().backward()
    cuda_features = features.detach().cuda().requires_grad_()
    out = boundary_max_pool(cuda_features, segments.cuda())
    out.mul(weights.cuda()).sum().backward()
    assert torch.equal(out.cpu(), boundary_max_pool(features.detach(), segments))
    assert torch.allclose(cuda_features.grad.cpu(), features.grad)
