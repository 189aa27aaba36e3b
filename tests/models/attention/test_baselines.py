"""CBAM and non-local baselines (W3 Table 6): shapes, gradients, numeric properties."""

import torch
import torch.nn.functional as F

from vidaction.models.attention.cbam import CBAM
from vidaction.models.attention.nonlocal_block import NonLocalBlock


def test_cbam_is_per_frame_and_masks_in_unit_interval():
    torch.manual_seed(0)
    block = CBAM(16, reduction=4).eval()
    x = torch.randn(2, 16, 4, 7, 7)
    bumped = x.clone()
    bumped[:, :, 3] += 5.0
    with torch.no_grad():
        y, y_bumped = block(x), block(bumped)
    assert y.shape == x.shape
    assert torch.allclose(y[:, :, :3], y_bumped[:, :, :3], atol=1e-6)
    for mask in block.last_masks:
        assert mask.min() >= 0 and mask.max() <= 1
    x4 = x.transpose(1, 2).reshape(8, 16, 7, 7)
    assert torch.allclose(block(x4).view(2, 4, 16, 7, 7).transpose(1, 2), y, atol=1e-6)


def test_cbam_gradients():
    torch.manual_seed(0)
    block = CBAM(8, reduction=2)
    block(torch.randn(6, 8, 5, 5)).square().sum().backward()
    for name, p in block.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_nonlocal_is_identity_at_init_and_matches_naive_attention():
    torch.manual_seed(0)
    block = NonLocalBlock(8, subsample=False).eval()
    x = torch.randn(1, 8, 3, 4, 4)
    assert torch.allclose(block(x), x)
    torch.nn.init.ones_(block.W[1].weight)
    with torch.no_grad():
        y = block(x)
        flat = x.flatten(2)[0]
        def proj(conv):
            return conv.weight[:, :, 0, 0, 0] @ flat + conv.bias[:, None]
        theta, phi, g = proj(block.theta), proj(block.phi[0]), proj(block.g[0])
        positions = flat.shape[1]
        context = torch.zeros_like(g)
        for i in range(positions):
            weights = torch.softmax(torch.stack([theta[:, i] @ phi[:, j] for j in range(positions)]), 0)
            context[:, i] = (g * weights).sum(1)
        out = block.W[0].weight[:, :, 0, 0, 0] @ context + block.W[0].bias[:, None]
        bn = block.W[1]
        out = (out - bn.running_mean[:, None]) / torch.sqrt(bn.running_var[:, None] + bn.eps) * bn.weight[:, None] + bn.bias[:, None]
    assert torch.allclose(y, x + out.view_as(x), atol=1e-5)


def test_nonlocal_layouts_and_gradients():
    torch.manual_seed(0)
    block = NonLocalBlock(8, num_frames=2)
    torch.nn.init.ones_(block.W[1].weight)
    x4 = torch.randn(4, 8, 6, 6, requires_grad=True)
    y = block(x4)
    assert y.shape == x4.shape
    y.square().sum().backward()
    for name, p in block.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name
    assert F.mse_loss(x4.grad, torch.zeros_like(x4)) > 0
