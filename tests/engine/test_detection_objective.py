"""The detection objectives' boundary contrastive term: a second forward on the augmented windows."""

import torch

from vidaction.config import DetectionLossConfig, GAFConfig
from vidaction.engine.batches import DetectionInputs
from vidaction.engine.objectives import DetectionObjective
from vidaction.engine.objectives import GAFObjective
from vidaction.losses.detection import boundary_contrastive_loss
from vidaction.models.detector import afsd_detector

OPTIONS = dict(input_channels=8, channels=16, proposal_channels=16, frame_channels=16, num_levels=3, norm_groups=8)


def batch():
    torch.manual_seed(0)
    x, mask = torch.randn(2, 8, 64), torch.ones(2, 64, dtype=torch.bool)
    targets = [(torch.tensor([[10.0, 40.0]]), torch.tensor([1])), (torch.tensor([[5.0, 20.0]]), torch.tensor([0]))]
    contrast = (torch.randn(1, 8, 64), torch.ones(1, 64, dtype=torch.bool), torch.tensor([[[10.0, 24.0], [30.0, 46.0],
                                                                                          [25.0, 29.0]]]))
    return x, mask, targets, contrast


def test_afsd_objective_adds_the_weighted_triplet_of_the_augmented_forward():
    net = afsd_detector(2, **OPTIONS)
    x, mask, targets, contrast = batch()
    plain_total, _, plain_terms = DetectionObjective(DetectionLossConfig()).loss(net, DetectionInputs(x, mask), targets)
    assert "contrastive" not in plain_terms
    total, _, terms = DetectionObjective(DetectionLossConfig(contrastive_weight=0.5)).loss(
        net, DetectionInputs(x, mask, contrast), targets)
    expected = boundary_contrastive_loss(net(contrast[0], contrast[1]), contrast[2], weight=1.0)
    assert torch.allclose(terms["contrastive"], expected) and terms["contrastive"] > 0
    assert torch.allclose(total, plain_total + 0.5 * expected)
    off_total, _, off_terms = DetectionObjective(DetectionLossConfig(contrastive_weight=0.0)).loss(
        net, DetectionInputs(x, mask, contrast), targets)
    assert "contrastive" not in off_terms and torch.allclose(off_total, plain_total)
    terms["contrastive"].backward()  # the triplet alone trains the boundary features
    for name, parameter in net.head.frame_branch.named_parameters():
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name


def test_gaf_objective_contrasts_the_enhanced_features_of_the_augmented_windows():
    net = afsd_detector(2, attention="gaf", attention_options={"use_cvae": False}, **OPTIONS)
    x, mask, targets, contrast = batch()
    objective = GAFObjective(DetectionLossConfig(), GAFConfig(), epochs=1)
    total, _, terms = objective.loss(net, DetectionInputs(x, mask, contrast), targets)
    augmented = net(contrast[0], contrast[1], phase="segment", nonaction=False).action
    assert torch.allclose(terms["contrastive"], boundary_contrastive_loss(augmented, contrast[2], weight=1.0))
    total.backward()
    assert all(p.grad is not None for p in net.attention.parameters() if p.requires_grad)
