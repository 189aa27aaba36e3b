"""HCML cost volume (Sec. 3.2, eq. 1): cosine matching costs over a strided displacement grid."""

import pytest
import torch
import torch.nn.functional as F

from vidaction.models.motion.cost_volume import cost_volume, cost_volume_displacements, temporal_cost_volume


def naive_cost_volume(first, second, max_displacement, stride):
    """Eq. 1 pixel by pixel: channel ``i * n + j`` is ``(dy, dx) = (offsets[i], offsets[j])``."""
    batch, _, height, width = first.shape
    steps = max_displacement // stride
    offsets = [stride * k for k in range(-steps, steps + 1)]
    out = torch.zeros(batch, len(offsets) ** 2, height, width, dtype=first.dtype)
    for i, dy in enumerate(offsets):
        for j, dx in enumerate(offsets):
            for y in range(height):
                for x in range(width):
                    if 0 <= y + dy < height and 0 <= x + dx < width:
                        u, v = first[:, :, y, x], second[:, :, y + dy, x + dx]
                        out[:, i * len(offsets) + j, y, x] = F.cosine_similarity(u, v, dim=1, eps=1e-12)
    return out


def test_displacement_grid_is_row_major_with_the_zero_displacement_in_the_centre():
    grid = cost_volume_displacements(6, 2)
    assert len(grid) == 49
    assert grid[:2] == [(-6, -6), (-6, -4)] and grid[7] == (-4, -6)
    assert grid[24] == (0, 0) and grid[-1] == (6, 6)
    assert cost_volume_displacements(5, 2) == [(dy, dx) for dy in (-4, -2, 0, 2, 4) for dx in (-4, -2, 0, 2, 4)]


@pytest.mark.parametrize("max_displacement, stride, size", [(2, 1, (5, 6)), (3, 2, (6, 7)), (6, 2, (9, 10))])
def test_matches_a_naive_loop(max_displacement, stride, size):
    torch.manual_seed(0)
    first, second = torch.randn(2, 2, 5, *size)
    expected = naive_cost_volume(first, second, max_displacement, stride)
    assert torch.allclose(cost_volume(first, second, max_displacement, stride), expected, atol=1e-5)


def test_identical_frames_match_perfectly_at_zero_displacement():
    first = torch.randn(2, 8, 7, 9)
    volume = cost_volume(first, first.clone())
    assert volume.shape == (2, 49, 7, 9)
    assert torch.allclose(volume[:, 24], torch.ones(2, 7, 9), atol=1e-6)
    assert volume.max() <= 1 + 1e-6


def test_a_shifted_frame_peaks_at_its_displacement_away_from_borders():
    torch.manual_seed(0)
    dy, dx, border = 2, -4, 6
    first = torch.randn(1, 16, 20, 24)
    second = first.roll(shifts=(dy, dx), dims=(2, 3))
    volume = cost_volume(first, second)
    channel = cost_volume_displacements().index((dy, dx))
    interior = volume[0, :, border:-border, border:-border]
    assert torch.all(interior.argmax(dim=0) == channel)
    assert torch.allclose(interior[channel], torch.ones_like(interior[channel]), atol=1e-6)


def test_displaced_positions_outside_the_frame_cost_zero():
    height, width = 7, 9
    volume = cost_volume(torch.rand(1, 4, height, width) + 0.1, torch.rand(1, 4, height, width) + 0.1)
    rows, cols = torch.arange(height).view(-1, 1), torch.arange(width).view(1, -1)
    for channel, (dy, dx) in enumerate(cost_volume_displacements()):
        inside = (rows + dy >= 0) & (rows + dy < height) & (cols + dx >= 0) & (cols + dx < width)
        assert torch.all(volume[0, channel][~inside] == 0)
        assert torch.all(volume[0, channel][inside] > 0)


def test_zero_features_give_zero_cost_and_finite_gradients():
    first = torch.zeros(1, 3, 4, 4, requires_grad=True)
    second = torch.randn(1, 3, 4, 4, requires_grad=True)
    volume = cost_volume(first, second, max_displacement=2, stride=1)
    volume.sum().backward()
    assert torch.all(volume == 0)
    assert torch.isfinite(first.grad).all() and torch.isfinite(second.grad).all()


def test_gradcheck():
    first = torch.randn(1, 3, 4, 5, dtype=torch.float64, requires_grad=True)
    second = torch.randn(1, 3, 4, 5, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b: cost_volume(a, b, max_displacement=2, stride=1), (first, second))


def test_temporal_cost_volume_pairs_adjacent_frames_and_the_last_frame_with_itself():
    torch.manual_seed(0)
    x = torch.randn(2, 6, 4, 8, 9)
    volume = temporal_cost_volume(x, max_displacement=4, stride=2)
    assert volume.shape == (2, 25, 4, 8, 9)
    for t in range(3):
        assert torch.allclose(volume[:, :, t], cost_volume(x[:, :, t], x[:, :, t + 1], 4, 2), atol=1e-6)
    assert torch.allclose(volume[:, :, 3], cost_volume(x[:, :, 3], x[:, :, 3], 4, 2), atol=1e-6)
    assert torch.allclose(volume[:, 12, 3], torch.ones(2, 8, 9), atol=1e-6)


def test_rejects_bad_arguments():
    with pytest.raises(ValueError):
        cost_volume(torch.zeros(1, 2, 4, 4), torch.zeros(1, 2, 4, 5))
    with pytest.raises(ValueError):
        cost_volume_displacements(4, 0)
    with pytest.raises(ValueError):
        temporal_cost_volume(torch.zeros(1, 2, 4, 4))
