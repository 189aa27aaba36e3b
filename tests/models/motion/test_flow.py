"""HCML preliminary motion cues (Sec. 3.3): backward warping, flow estimator, frame reconstruction."""

import pytest
import torch
import torch.nn.functional as F

from vidaction.losses.photometric import reconstruction_loss
from vidaction.models.motion.flow import FlowEstimator, backward_warp, reconstruct_frames, upsample_flow


def translating_texture(num_frames: int, size: int, shift: int, batch: int = 1) -> torch.Tensor:
    """``(N, 3, T, H, W)`` smooth random texture moving right by ``shift`` pixels per frame."""
    texture = F.avg_pool2d(torch.rand(batch, 3, size + 4, size + 4), 5, stride=1)
    return torch.stack([texture.roll(t * shift, dims=-1) for t in range(num_frames)], dim=2)


def test_zero_flow_returns_the_image_all_valid():
    image = torch.rand(2, 3, 6, 7)
    warped, valid = backward_warp(image, torch.zeros(2, 2, 6, 7))
    assert torch.allclose(warped, image, atol=1e-6)
    assert valid.shape == (2, 1, 6, 7) and torch.all(valid == 1)


@pytest.mark.parametrize("u, v", [(2, 0), (0, -1)])
def test_integer_flow_samples_the_shifted_image_and_masks_what_left_the_frame(u, v):
    image = torch.rand(1, 2, 8, 9)
    flow = torch.tensor([float(u), float(v)]).view(1, 2, 1, 1).expand(1, 2, 8, 9)
    warped, valid = backward_warp(image, flow)
    expected_valid = torch.zeros(8, 9)
    rows, cols = slice(max(-v, 0), 8 - max(v, 0)), slice(max(-u, 0), 9 - max(u, 0))
    expected_valid[rows, cols] = 1
    assert torch.equal(valid[0, 0], expected_valid)
    source_rows, source_cols = slice(rows.start + v, rows.stop + v), slice(cols.start + u, cols.stop + u)
    assert torch.allclose(warped[..., rows, cols], image[..., source_rows, source_cols], atol=1e-6)


def test_half_pixel_flow_interpolates_neighbours_bilinearly():
    image = torch.rand(1, 1, 4, 6)
    warped, valid = backward_warp(image, torch.tensor([0.5, 0.0]).view(1, 2, 1, 1).expand(1, 2, 4, 6))
    assert torch.allclose(warped[..., :-1], (image[..., :-1] + image[..., 1:]) / 2, atol=1e-6)
    assert torch.all(valid[..., :-1] == 1) and torch.all(valid[..., -1] == 0)


def test_warp_gradient_reaches_the_flow():
    flow = (0.3 * torch.randn(2, 2, 5, 5)).requires_grad_()
    warped, _ = backward_warp(torch.rand(2, 3, 5, 5), flow)
    warped.square().sum().backward()
    assert flow.grad.abs().sum() > 0


def test_upsample_flow_converts_feature_pixels_to_image_pixels():
    flow = torch.tensor([1.0, -0.5]).view(1, 2, 1, 1, 1).expand(2, 2, 3, 4, 4)
    upsampled = upsample_flow(flow, (16, 8))
    assert upsampled.shape == (2, 2, 3, 16, 8)
    assert torch.allclose(upsampled[:, 0], torch.full((2, 3, 16, 8), 2.0))
    assert torch.allclose(upsampled[:, 1], torch.full((2, 3, 16, 8), -2.0))


def test_reconstruct_frames_rebuilds_each_frame_from_its_successor():
    frames = translating_texture(num_frames=4, size=12, shift=2, batch=2)
    flow = torch.tensor([1.0, 0.0]).view(1, 2, 1, 1, 1).expand(2, 2, 3, 6, 6)
    reconstructed, valid = reconstruct_frames(frames, flow)
    assert reconstructed.shape == (2, 3, 3, 12, 12) and valid.shape == (2, 1, 3, 12, 12)
    assert torch.all(valid[..., :-2] == 1) and torch.all(valid[..., -2:] == 0)
    assert torch.allclose(reconstructed[..., :-2], frames[:, :, :-1, :, :-2], atol=1e-6)


def test_reconstruct_frames_rejects_a_flow_per_frame():
    with pytest.raises(ValueError, match="T-1"):
        reconstruct_frames(torch.rand(1, 3, 4, 8, 8), torch.zeros(1, 2, 4, 8, 8))


def test_estimator_shapes_and_dense_connections():
    estimator = FlowEstimator(in_channels=4, hidden=(8, 6, 4))
    assert [layer[0].in_channels for layer in estimator.layers] == [8, 16, 22]
    assert estimator.predict_flow.in_channels == 26 and estimator.predict_flow.out_channels == 2
    flow = estimator(torch.randn(2, 4, 5, 7, 9))
    assert flow.shape == (2, 2, 4, 7, 9) and torch.isfinite(flow).all()


def test_estimator_pairs_adjacent_frames_in_order():
    estimator = FlowEstimator(in_channels=3, hidden=(4, 4)).eval()
    features = torch.randn(1, 3, 4, 6, 6)
    flow = estimator(features)
    for t in range(3):
        assert torch.allclose(flow[:, :, t], estimator(features[:, :, t:t + 2])[:, :, 0], atol=1e-6)


def test_estimator_every_parameter_receives_a_gradient():
    estimator = FlowEstimator(in_channels=3, hidden=(4, 4, 4, 4, 4))
    estimator(torch.randn(1, 3, 3, 6, 6)).square().sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in estimator.parameters())


def test_estimator_needs_two_frames():
    with pytest.raises(ValueError, match="two frames"):
        FlowEstimator(in_channels=3)(torch.randn(1, 3, 1, 6, 6))


def test_a_few_steps_on_a_translating_texture_lower_the_loss_and_find_the_motion():
    torch.manual_seed(0)
    frames = translating_texture(num_frames=4, size=32, shift=1, batch=2)
    features = F.avg_pool2d(frames.flatten(1, 2), 2).view(2, 3, 4, 16, 16)
    estimator = FlowEstimator(in_channels=3, hidden=(16, 16, 12, 8, 4))
    optimizer = torch.optim.Adam(estimator.parameters(), lr=2e-3)
    losses = []
    for _ in range(40):
        loss = reconstruction_loss(frames, estimator(features))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]
    # One image pixel per frame is half a pixel of the 2x-pooled features.
    flow = estimator(features).detach()
    assert (flow[:, 0] - 0.5).abs().mean() < 0.1 and flow[:, 1].abs().mean() < 0.1
