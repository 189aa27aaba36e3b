"""HCMLNet: side branches for training, dropped by deploy(); the joint loss of eq. 5."""

import pytest
import torch

from vidaction.losses.hcml import hcml_losses
from vidaction.losses.photometric import reconstruction_loss
from vidaction.models import create_model
from vidaction.models.motion.hcml import HCMLNet


def make_net():
    torch.manual_seed(0)
    return HCMLNet(create_model("r2d_tiny", num_classes=3, num_frames=16, motion="pmb"))


def test_outputs_and_joint_loss_reach_every_side_branch():
    net = make_net()
    x = torch.randn(2, 3, 16, 32, 32)
    out = net(x, return_motion=True)
    assert out.scores.shape == (2, 3) and out.flow.shape == (2, 2, 15, 8, 8) and list(out.flows) == ["res2"]
    assert list(out.predictions) == ["res3", "res4"]
    assert out.predictions["res3"].predictions.shape == (2, 2, 8, 8, 4, 4)
    total, terms = hcml_losses(out, x, torch.tensor([0, 2]), generator=torch.Generator().manual_seed(0))
    assert set(terms) == {"reconstruct", "contrastive_res3", "contrastive_res4", "ce"}
    expected = terms["ce"] + 15 * terms["reconstruct"] + 0.25 * (terms["contrastive_res3"] + terms["contrastive_res4"])
    assert torch.allclose(total, expected)
    total.backward()
    for name, p in net.named_parameters():
        if name.startswith(("flows.", "predictors.")):
            assert p.grad is not None and p.grad.abs().sum() > 0, name
    self_supervised, terms = hcml_losses(net(x, return_motion=True), x, None)
    assert "ce" not in terms and torch.isfinite(self_supervised)


def test_deploy_drops_side_branches_and_keeps_outputs():
    net = make_net().eval()
    x = torch.randn(1, 3, 16, 32, 32)
    deployed = net.deploy()
    assert sum(p.numel() for p in deployed.parameters()) < sum(p.numel() for p in net.parameters())
    assert not any(name.startswith(("flows.", "predictors.")) for name, _ in deployed.named_parameters())
    with torch.no_grad():
        assert torch.equal(net(x), deployed(x))


def test_plain_backbone_is_refused():
    with pytest.raises(ValueError, match="motion='pmb'"):
        HCMLNet(create_model("r2d_tiny", num_classes=3, num_frames=8))


def test_flow_estimators_on_higher_levels_reconstruct_frames_their_stride_apart():
    torch.manual_seed(0)
    net = HCMLNet(create_model("r2d_tiny", num_classes=3, num_frames=16, motion="pmb"), flow_levels=("res2", "res3"))
    x = torch.randn(2, 3, 16, 32, 32)
    out = net(x, return_motion=True)
    assert {level: tuple(f.shape) for level, f in out.flows.items()} == {"res2": (2, 2, 15, 8, 8),
                                                                         "res3": (2, 2, 7, 4, 4)}
    assert out.flow_strides == {"res2": 1, "res3": 2}
    total, terms = hcml_losses(out, x, None, generator=torch.Generator().manual_seed(0))
    assert {"reconstruct", "reconstruct_res3"} <= set(terms)
    assert torch.allclose(terms["reconstruct_res3"], reconstruction_loss(x[:, :, ::2], out.flows["res3"]))
    total.backward()
    assert net.flows["res3"].predict_flow.weight.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="must start with the first motion level res2"):
        HCMLNet(create_model("r2d_tiny", num_classes=3, num_frames=16, motion="pmb"), flow_levels=("res3",))
