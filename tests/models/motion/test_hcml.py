"""HCMLNet: side branches for training, dropped by deploy(); the joint loss of eq. 5."""

import pytest
import torch

from vidaction.losses.hcml import hcml_losses, hcml_terms
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
    # res3 (8 steps) predicts all 15 future steps of res2's 16-step sequence, the ground truth.
    assert out.predictions["res3"].predictions.shape == (2, 15, 8, 8, 4, 4)
    assert out.predictions["res3"].targets.shape == (2, 8, 16, 4, 4) and out.predictions["res3"].temporal_stride == 2
    assert out.predictions["res4"].predictions.shape == (2, 7, 16, 4, 2, 2)
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


def motion_with_perturbed_level(net, x, level, scale):
    """Motion features of every level when ``scale`` x fixed noise is added to ``P^level`` where its block
    computes it."""
    def perturb(module, inputs, output):
        return output + scale * torch.randn(output.shape, generator=torch.Generator().manual_seed(1))

    handle = net.backbone.motion_blocks()[level].fuse.register_forward_hook(perturb)
    try:
        net(x)
    finally:
        handle.remove()
    return {name: motion.clone() for name, motion in net.backbone.motion_features().items()}


def test_each_level_builds_on_the_motion_of_the_level_below():
    x = torch.randn(2, 3, 16, 32, 32)
    for previous, current in zip(("res2", "res3"), ("res3", "res4")):
        net = make_net().eval()
        with torch.no_grad():
            reference = motion_with_perturbed_level(net, x, previous, 0.0)
            perturbed = motion_with_perturbed_level(net, x, previous, 1.0)
            # Z^{l-1} = F^{l-1} + g^{l-1}(P^{l-1}) with g^{l-1} != 0: P^l depends on P^{l-1} (Sec. 3.1).
            assert not torch.allclose(perturbed[current], reference[current], atol=1e-4), current
            norm = net.backbone.motion_blocks()[previous].g[1]
            norm.weight.zero_()
            norm.bias.zero_()
            assert torch.allclose(motion_with_perturbed_level(net, x, previous, 1.0)[current],
                                  motion_with_perturbed_level(net, x, previous, 0.0)[current])


def g_parameter_names(net, level):
    """Names of the parameters of ``g`` (``Z = F + g(P)``) of ``level``'s prime motion block in ``net``."""
    block = net.backbone.motion_blocks()[level]
    prefix = next(name for name, module in net.named_modules() if module is block)
    return {f"{prefix}.g.{name}" for name, _ in block.g.named_parameters()}


def test_each_stage_trains_what_its_loss_reaches_and_keeps_the_level_below_fixed():
    net = make_net()
    x = torch.randn(2, 3, 16, 32, 32)
    names = {id(p): name for name, p in net.named_parameters()}

    def reached(loss):
        net.zero_grad()
        loss.backward()
        return {name for name, p in net.named_parameters() if p.grad is not None and p.grad.abs().sum() > 0}

    stages = net.progressive_stages()
    fusion = {level: g_parameter_names(net, level) for level in net.levels}
    for index, stage in enumerate(stages):
        trained = {names[id(p)] for module in stage.trainable for p in module.parameters()}
        output = net(x, return_motion=True)
        by_loss = reached(hcml_terms(output, x, 4, only=stage.loss, generator=torch.Generator().manual_seed(0))[
            stage.loss])
        assert trained <= by_loss, sorted(trained - by_loss)  # every trained parameter gets a gradient
        assert not trained & fusion[stage.level]  # g^l: no gradient from level l's loss
        if index == 0:
            assert trained == by_loss
            continue
        previous = net.levels[index - 1]
        assert fusion[previous] <= trained  # g^{l-1}: level l's loss is the one that reaches it
        # What computes P^{l-1} (the ground truth of level l) stays frozen; the loss reaches nothing else.
        output = net(x, return_motion=True)
        below = reached(output.predictions[stage.level].targets.sum())
        assert not trained & below
        assert by_loss == trained | below


def test_registered_wrapper_is_hcmlnet_on_a_backbone_built_by_name():
    torch.manual_seed(0)
    expected = HCMLNet(create_model("r2d_tiny", num_classes=5, num_frames=8, motion="pmb")).state_dict()
    torch.manual_seed(0)
    net = create_model("hcml", 5, 8, backbone="r2d_tiny", backbone_options={"motion": "pmb"})
    state = net.state_dict()
    assert list(state) == list(expected) and all(torch.equal(state[key], expected[key]) for key in state)
    assert net.arch == {"name": "hcml", "kwargs": {"num_classes": 5, "num_frames": 8, "backbone": "r2d_tiny",
                                                   "backbone_options": {"motion": "pmb"}}}
    assert net.deploy().arch == {"name": "r2d_tiny", "kwargs": {"num_classes": 5, "num_frames": 8, "motion": "pmb"}}
    torch.manual_seed(0)
    sized = create_model("hcml", 5, 16, backbone="r2plus1d_tiny", steps=2, flow_levels=["res2", "res3"])
    assert sized.steps == {"res3": 2, "res4": 2} and list(sized.flows) == ["res2", "res3"]


def test_registered_wrapper_refuses_a_backbone_without_motion_blocks():
    with pytest.raises(ValueError, match=r"backbone_options=\{'motion': 'pmb'"):
        create_model("hcml", 3, 8, backbone="r2d_tiny", backbone_options={"base_width": 8})
