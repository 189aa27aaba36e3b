"""HCMLNet: side branches for training, dropped by deploy(); the joint loss of eq. 5."""

import pytest
import torch

from vidaction.losses.hcml import hcml_losses
from vidaction.models import create_model
from vidaction.models.motion.hcml import HCMLNet


def make_net():
    torch.manual_seed(0)
    return HCMLNet(create_model("r2d_tiny", num_classes=3, num_frames=16, motion="pmb"))


def test_outputs_and_joint_loss_reach_every_side_branch():
    net = make_net()
    x = torch.randn(2, 3, 16, 32, 32)
    out = net(x, return_motion=True)
    assert out.scores.shape == (2, 3) and out.flow.shape == (2, 2, 15, 8, 8)
    assert list(out.predictions) == ["res3", "res4"]
    assert out.predictions["res3"].predictions.shape == (2, 2, 8, 8, 4, 4)
    total, terms = hcml_losses(out, x, torch.tensor([0, 2]), generator=torch.Generator().manual_seed(0))
    assert set(terms) == {"reconstruct", "contrastive_res3", "contrastive_res4", "ce"}
    expected = terms["ce"] + 15 * terms["reconstruct"] + 0.25 * (terms["contrastive_res3"] + terms["contrastive_res4"])
    assert torch.allclose(total, expected)
    total.backward()
    for name, p in net.named_parameters():
        if name.startswith(("flow.", "predictors.")):
            assert p.grad is not None and p.grad.abs().sum() > 0, name
    self_supervised, terms = hcml_losses(net(x, return_motion=True), x, None)
    assert "ce" not in terms and torch.isfinite(self_supervised)


def test_deploy_drops_side_branches_and_keeps_outputs():
    net = make_net().eval()
    x = torch.randn(1, 3, 16, 32, 32)
    deployed = net.deploy()
    assert sum(p.numel() for p in deployed.parameters()) < sum(p.numel() for p in net.parameters())
    assert not any(name.startswith(("flow.", "predictors.")) for name, _ in deployed.named_parameters())
    with torch.no_grad():
        assert torch.equal(net(x), deployed(x))


def test_plain_backbone_is_refused():
    with pytest.raises(ValueError, match="motion='pmb'"):
        HCMLNet(create_model("r2d_tiny", num_classes=3, num_frames=8))
