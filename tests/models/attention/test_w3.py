"""W3 attention (eqs. 2-6): shapes in both layouts, gradients, masks in [0, 1], naive references."""

import pytest
import torch
import torch.nn.functional as F

from vidaction.models.attention.w3 import W3Attention


def _naive_channel_mask(block: W3Attention, x5: torch.Tensor) -> torch.Tensor:
    """Eqs. 3-4 frame by frame and channel by channel, from the module's raw weights."""
    mlp1, mlp2 = block.channel.frame_mlp[0], block.channel.frame_mlp[2]
    n, c, t = x5.shape[:3]
    frame = torch.zeros(n, c, t)
    for b in range(n):
        for i in range(t):
            def mlp(v):
                return mlp2.weight[:, :, 0] @ torch.relu(mlp1.weight[:, :, 0] @ v + mlp1.bias) + mlp2.bias
            avg = x5[b, :, i].mean(dim=(1, 2))
            peak = x5[b, :, i].amax(dim=(1, 2))
            frame[b, :, i] = torch.sigmoid(mlp(avg) + mlp(peak))
    conv1, conv2 = block.channel.video_cnn[0], block.channel.video_cnn[2]
    out = torch.zeros_like(frame)
    for ch in range(c):
        seq = frame[:, ch:ch + 1]
        hidden = torch.relu(F.conv1d(seq, conv1.weight[ch:ch + 1], conv1.bias[ch:ch + 1], padding=1))
        out[:, ch:ch + 1] = torch.sigmoid(F.conv1d(hidden, conv2.weight[ch:ch + 1], conv2.bias[ch:ch + 1], padding=1))
    return out


@torch.no_grad()
def test_masks_match_naive_reference_and_lie_in_unit_interval():
    torch.manual_seed(0)
    block = W3Attention(channels=8, num_frames=4, reduction=2)
    x5 = torch.randn(2, 8, 4, 6, 5)
    y = block(x5)
    channel, spatial = block.last_masks
    assert channel.shape == (2, 8, 4) and spatial.shape == (2, 1, 4, 6, 5)
    assert torch.allclose(channel, _naive_channel_mask(block, x5), atol=1e-6)
    for mask in (channel, spatial):
        assert mask.min() >= 0 and mask.max() <= 1
    refined = x5 * channel[..., None, None]
    pooled = torch.cat([refined.mean(1, keepdim=True), refined.amax(1, keepdim=True)], 1)
    frame = torch.stack([torch.sigmoid(F.conv2d(pooled[:, :, i], block.spatial.frame_conv.weight[:, :, 0],
                                                block.spatial.frame_conv.bias, padding=3)) for i in range(4)], 2)
    c1, c2 = block.spatial.video_cnn[0], block.spatial.video_cnn[2]
    expected = torch.sigmoid(c2(torch.relu(c1(frame))))
    assert torch.allclose(spatial, expected, atol=1e-6)
    assert torch.allclose(y, refined * spatial, atol=1e-6)


def test_tsm_layout_equals_3d_layout():
    torch.manual_seed(0)
    block = W3Attention(channels=16, num_frames=3).eval()
    x5 = torch.randn(2, 16, 3, 7, 7)
    x4 = x5.transpose(1, 2).reshape(6, 16, 7, 7)
    y4 = block(x4)
    assert y4.shape == x4.shape
    assert torch.allclose(y4.view(2, 3, 16, 7, 7).transpose(1, 2), block(x5), atol=1e-6)


def test_temporal_reasoning_mixes_frames_only_when_enabled():
    torch.manual_seed(0)
    x = torch.randn(1, 8, 5, 6, 6)
    bumped = x.clone()
    bumped[:, :, 4] += 3.0
    for use_temporal, mixes in ((True, True), (False, False)):
        block = W3Attention(8, reduction=2, use_temporal=use_temporal).eval()
        with torch.no_grad():
            changed = (block(bumped) - block(x))[:, :, 2].abs().max()
        assert (changed > 1e-6) == mixes


@pytest.mark.parametrize("mode", ["depthwise", "dense"])
def test_every_parameter_gets_a_gradient(mode):
    torch.manual_seed(0)
    block = W3Attention(channels=8, num_frames=2, reduction=2, temporal_mode=mode)
    x = torch.randn(4, 8, 9, 9, requires_grad=True)
    block(x).square().sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
    for name, p in block.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="temporal_mode"):
        W3Attention(8, temporal_mode="global")
    with pytest.raises(ValueError, match="num_frames"):
        W3Attention(8)(torch.randn(4, 8, 5, 5))
    with pytest.raises(ValueError, match="multiple of num_frames"):
        W3Attention(8, num_frames=3)(torch.randn(4, 8, 5, 5))


@pytest.mark.parametrize("kernel, channels", [((3, 3, 3), (1, 4)), ((3, 3, 3), (4, 1)), ((1, 7, 7), (2, 1))])
def test_conv3d_by_frames_equals_conv3d(kernel, channels):
    from vidaction.models.attention.w3 import conv3d_by_frames

    torch.manual_seed(0)
    conv = torch.nn.Conv3d(channels[0], channels[1], kernel, padding=tuple(k // 2 for k in kernel))
    x = torch.randn(2, channels[0], 5, 9, 7, requires_grad=True)
    ours = conv3d_by_frames(x, conv)
    assert torch.allclose(ours, conv(x), atol=1e-5)
    g = torch.randn_like(ours)
    assert torch.allclose(torch.autograd.grad(ours, x, g)[0], torch.autograd.grad(conv(x), x, g)[0], atol=1e-5)


def test_inplace_inference_matches_and_training_is_untouched():
    torch.manual_seed(0)
    block = W3Attention(16, num_frames=4, reduction=4)
    fast = W3Attention(16, num_frames=4, reduction=4, inplace=True)
    fast.load_state_dict(block.state_dict())
    x = torch.randn(8, 16, 9, 9)
    with torch.no_grad():
        expected = block(x.clone())
        y = x.clone()
        out = fast(y)
    assert torch.allclose(out, expected, atol=1e-6) and out.data_ptr() == y.data_ptr()
    leaf = x.clone().requires_grad_()
    fast(leaf).sum().backward()
    assert torch.equal(leaf.detach(), x) and leaf.grad is not None


@pytest.mark.parametrize("use_temporal", [True, False])
def test_masks_start_near_mask_init(use_temporal):
    torch.manual_seed(0)
    x = torch.randn(2, 32, 4, 9, 9)
    for mask_init in (0.95, 0.5):
        block = W3Attention(32, reduction=4, use_temporal=use_temporal, mask_init=mask_init)
        with torch.no_grad():
            block(x)
        for mask in block.last_masks:
            # without eq. 6 the 7x7 conv sees the raw pooled features, whose spread widens the mask
            assert abs(mask.mean().item() - mask_init) < 0.12 and 0 <= mask.min() and mask.max() <= 1
    with pytest.raises(ValueError, match="mask_init"):
        W3Attention(8, mask_init=1.0)


def test_w3_inserted_into_a_trained_network_nearly_keeps_its_features():
    from vidaction.models import create_model, load_pretrained

    torch.manual_seed(0)
    plain = create_model("tsm_tiny", num_classes=3, num_frames=4).eval()
    x = torch.randn(2, 3, 4, 64, 64)
    change = {}
    for mask_init in (0.95, 0.5):
        w3 = create_model("tsm_tiny", num_classes=3, num_frames=4, attention="w3", refine=True,
                          attention_options={"mask_init": mask_init}).eval()
        load_pretrained(w3, plain.state_dict())
        with torch.no_grad():
            before, after = plain.forward_features(x)["layer4"], w3.forward_features(x)["layer4"]
        change[mask_init] = ((after - before).norm() / before.norm()).item()
    # every residual branch scaled by ~0.9 instead of ~0.25 (measured: 15 % against 74 %)
    assert change[0.95] < 0.25 < 0.5 < change[0.5]
