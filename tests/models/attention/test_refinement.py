"""Attention-guided feature refinement (W3 eqs. 7-8): zero at initialisation, gradients, old checkpoints."""

import pytest
import torch

from vidaction.models import create_model
from vidaction.models.attention.refinement import AttentionRefinement


def _masks_2d(n_t=6):
    return [torch.rand(n_t, 1, 16, 16), torch.rand(n_t, 1, 8, 8), torch.rand(n_t, 1, 4, 4)]


def test_shapes_2d_and_3d():
    torch.manual_seed(0)
    assert AttentionRefinement(3, 32)(_masks_2d(), (2, 2)).shape == (6, 32, 2, 2)
    masks = [torch.rand(2, 1, 4, 16, 16), torch.rand(2, 1, 2, 8, 8)]
    assert AttentionRefinement(2, 32, dims=3)(masks, (2, 4, 4)).shape == (2, 32, 2, 4, 4)


def test_matches_per_frame_naive_reference():
    torch.manual_seed(0)
    refine = AttentionRefinement(3, 5)
    with torch.no_grad():
        refine.scale.normal_()
        refine.bias.normal_()
    masks = _masks_2d()
    out = refine(masks, (2, 2))
    for frame in range(6):
        for y in range(2):
            for x in range(2):
                # eq. 7: each mask's mean over its cell of the 2x2 grid, stacked over stages
                pooled = torch.stack([m[frame, 0].unflatten(0, (2, -1)).unflatten(2, (2, -1))[y, :, x].mean()
                                      for m in masks])
                expected = refine.scale * torch.relu(refine.weight[:, :, 0, 0] @ pooled + refine.bias)
                assert torch.allclose(out[frame, :, y, x], expected, atol=1e-6)


@pytest.mark.parametrize("name, frames", [("tsm_tiny", 4), ("i3d_tiny", 8)])
def test_refined_map_equals_unrefined_map_at_initialisation(name, frames):
    torch.manual_seed(0)
    refined = create_model(name, num_classes=3, num_frames=frames, attention="w3", refine=True).eval()
    plain = create_model(name, num_classes=3, num_frames=frames, attention="w3").eval()
    plain.load_state_dict({k: v for k, v in refined.state_dict().items() if not k.startswith("refine.")})
    x = torch.randn(2, 3, frames, 64, 64)
    with torch.no_grad():
        assert torch.equal(refined.forward_features(x)["layer4"], plain.forward_features(x)["layer4"])


@pytest.mark.parametrize("name, frames", [("tsm_tiny", 4), ("i3d_tiny", 8)])
def test_every_refinement_parameter_learns_from_the_first_steps(name, frames):
    torch.manual_seed(0)
    model = create_model(name, num_classes=3, num_frames=frames, attention="w3", refine=True)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    x = torch.randn(2, 3, frames, 32, 32)
    model(x).logsumexp(1).sum().backward()
    # step 0: the zero gate learns on every channel (all ReLUs open), the conv waits for it
    assert (model.refine.scale.grad != 0).all()
    assert not model.refine.weight.grad.any() and not model.refine.bias.grad.any()
    optimizer.step()
    optimizer.zero_grad()
    model(x).logsumexp(1).sum().backward()
    assert model.refine.weight.grad.abs().sum() > 0 and model.refine.bias.grad.abs().sum() > 0


def test_gradient_reaches_the_masks_through_the_refinement():
    torch.manual_seed(0)
    model = create_model("tsm_tiny", num_classes=3, num_frames=4, attention="w3", refine=True)
    with torch.no_grad():
        model.refine.scale.fill_(1.0)
    captured = {}
    model.refine.register_forward_hook(lambda module, args, out: captured.update(masks=args[0], out=out))
    model(torch.randn(2, 3, 4, 32, 32))
    grads = torch.autograd.grad(captured["out"].sum(), captured["masks"])
    assert all(g.abs().sum() > 0 for g in grads)
    assert all(0 <= m.min() and m.max() <= 1 for m in captured["masks"])


def test_checkpoint_without_scale_loads_as_the_former_refinement(naive_refinement):
    torch.manual_seed(0)
    model = create_model("tsm_tiny", num_classes=3, num_frames=4, attention="w3", refine=True).eval()
    old = {k: v.clone() for k, v in model.state_dict().items() if k != "refine.scale"}
    old["refine.bias"] = torch.linspace(-0.5, 0.5, old["refine.bias"].numel())
    fresh = create_model("tsm_tiny", num_classes=3, num_frames=4, attention="w3", refine=True).eval()
    fresh.load_state_dict(old)
    assert torch.equal(fresh.refine.scale, torch.ones_like(fresh.refine.scale))
    plain = create_model("tsm_tiny", num_classes=3, num_frames=4, attention="w3").eval()
    plain.load_state_dict({k: v for k, v in old.items() if not k.startswith("refine.")})
    x = torch.randn(1, 3, 4, 64, 64)
    with torch.no_grad():
        y = fresh.forward_features(x)["layer4"]
        base = plain.forward_features(x)["layer4"]
        former = naive_refinement(fresh, y.shape[-2:], old["refine.weight"], old["refine.bias"])
    assert torch.allclose(y - base, former, atol=1e-5)
