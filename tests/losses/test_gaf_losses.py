"""GAF's segment-level losses (eqs. 11-14) on a tiny AFSD detector, and the recognition L_clf."""

import pytest
import torch
import torch.nn.functional as F

from vidaction.losses.detection import afsd_loss, softmax_focal_loss
from vidaction.losses.gaf import action_class_distribution, gaf_detection_loss, gaf_recognition_loss, \
    nonaction_detection_loss, segment_classification_loss
from vidaction.models.detector import TemporalDetector
from vidaction.models.generative.gaf import gaf_for_head
from vidaction.models.generative.gaf_classifier import GAFClassifierOutput
from vidaction.models.heads.afsd import AFSDHead

STEPS = 32


def tiny_detector():
    torch.manual_seed(0)
    head = AFSDHead((16, 24), num_classes=3, in_strides=(4, 8), in_spatial=((3, 3), (2, 2)), num_levels=3,
                    channels=16, proposal_channels=8, frame_channels=16, norm_groups=4)
    gaf = gaf_for_head(head, attention_channels=8, norm_groups=2, cvae_channels=4, cvae_hidden=16, latent_size=6)
    return TemporalDetector(head, attention=gaf).train()


def maps(batch=2):
    torch.manual_seed(1)
    return [torch.randn(batch, 16, STEPS // 4, 3, 3).relu(), torch.randn(batch, 24, STEPS // 8, 2, 2).relu()]


TARGETS = [(torch.tensor([[2.0, 12.0], [20.0, 30.0]]), torch.tensor([0, 2])),
           (torch.tensor([[4.0, 9.0]]), torch.tensor([1]))]


def forward(detector, mask, features=None):
    features = maps() if features is None else features
    action = detector.head(detector.attention(features, mask), mask)
    out = detector.attention.last_output
    return out, action, detector.head(out.nonaction_maps, mask)


def test_class_distribution_is_the_covered_share_inside_the_valid_window():
    mask = torch.ones(3, 20, dtype=torch.bool)
    mask[1, 10:] = False
    targets = [(torch.tensor([[0.0, 8.0], [10.0, 12.0], [-3.0, 2.0]]), torch.tensor([1, 0, 1])),
               (torch.tensor([[6.0, 16.0], [12.0, 18.0]]), torch.tensor([0, 2])),
               (torch.zeros(0, 2), torch.zeros(0, dtype=torch.long))]
    shares = action_class_distribution(targets, mask, num_classes=3)
    assert torch.allclose(shares[0], torch.tensor([0.0, 2.0, 10.0, 0.0]) / 12.0)
    # Window 1 is valid up to step 10: the first instance covers 4 steps there, the second none.
    assert torch.allclose(shares[1], torch.tensor([0.0, 1.0, 0.0, 0.0]))
    assert torch.equal(shares[2], torch.tensor([1.0, 0.0, 0.0, 0.0]))


def test_segment_classification_matches_a_naive_cross_entropy():
    detector, mask = tiny_detector(), torch.ones(2, STEPS, dtype=torch.bool)
    out, _, _ = forward(detector, mask)
    target = action_class_distribution(TARGETS, mask, 3)
    clf_ai, clf_nai = segment_classification_loss(out.segment, target)
    naive_ai = sum(-(target * F.log_softmax(l, 1)).sum(1).mean() for l in out.segment.action_logits) / 2
    naive_nai = sum(-F.log_softmax(l, 1)[:, 0].mean() for l in out.segment.nonaction_logits) / 2
    assert torch.allclose(clf_ai, naive_ai, atol=1e-6) and torch.allclose(clf_nai, naive_nai, atol=1e-6)


def test_nonaction_detection_loss_is_the_background_focal_sum_per_window():
    detector, mask = tiny_detector(), torch.ones(2, STEPS, dtype=torch.bool)
    mask[1, 24:] = False
    _, _, nonaction = forward(detector, mask)
    value = nonaction_detection_loss(nonaction)
    naive = 0.0
    for b in range(2):
        for location in range(nonaction.cls_logits.shape[1]):
            if nonaction.mask[b, location]:
                naive += softmax_focal_loss(nonaction.cls_logits[b, location:location + 1], torch.tensor([0]))[0]
    assert torch.allclose(value, naive / 2, atol=1e-5)
    # What AFSD's loss makes of a window without ground truth: the same coarse term, nothing to localise.
    _, terms = afsd_loss(nonaction, [(torch.zeros(0, 2), torch.zeros(0, dtype=torch.long))] * 2)
    assert torch.allclose(terms["cls"], 2 * value, atol=1e-5) and terms["loc"] == 0


def test_detection_loss_composes_eq_14():
    detector, mask = tiny_detector(), torch.ones(2, STEPS, dtype=torch.bool)
    out, action, nonaction = forward(detector, mask)
    total, terms = gaf_detection_loss(out, TARGETS, action, nonaction, alpha=0.5, beta=2.0, nonaction_clf_weight=3.0,
                                      nonaction_reg_weight=7.0)
    reg_ai, afsd_terms = afsd_loss(action, TARGETS)
    assert torch.allclose(terms["reg_ai"], reg_ai)
    assert all(torch.allclose(terms[f"ai_{k}"], v) for k, v in afsd_terms.items())
    assert torch.allclose(terms["reg_nai"], nonaction_detection_loss(nonaction))
    expected = 0.5 * (terms["clf_ai"] + 3.0 * terms["clf_nai"]) + 2.0 * (terms["reg_ai"] + 7.0 * terms["reg_nai"])
    assert torch.allclose(total, expected)
    only_ai, ai_terms = gaf_detection_loss(out, TARGETS, action, use_nonaction=False)
    assert "clf_nai" not in ai_terms and "reg_nai" not in ai_terms
    assert torch.allclose(only_ai, ai_terms["clf_ai"] + ai_terms["reg_ai"])
    with pytest.raises(ValueError, match="nonaction_output"):
        gaf_detection_loss(out, TARGETS, action)


def test_detection_loss_trains_attention_classifier_and_head():
    detector, mask = tiny_detector(), torch.ones(2, STEPS, dtype=torch.bool)
    out, action, nonaction = forward(detector, mask)
    total, terms = gaf_detection_loss(out, TARGETS, action, nonaction)
    assert all(torch.isfinite(v) for v in terms.values())
    total.backward()
    for p in detector.attention.segment_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0
    assert all(p.grad is None for p in detector.attention.cvae_parameters())
    assert detector.head.cls_head.weight.grad.abs().sum() > 0


def test_collapsed_attention_keeps_every_term_finite():
    detector, mask = tiny_detector(), torch.ones(2, STEPS, dtype=torch.bool)
    with torch.no_grad():
        for head in detector.attention.attention_heads:
            head.score.weight.zero_()
            head.score.bias.fill_(-80.0)
    out, action, nonaction = forward(detector, mask)
    assert out.num_collapsed == 4
    total, terms = gaf_detection_loss(out, TARGETS, action, nonaction)
    assert torch.isfinite(total) and all(torch.isfinite(v) for v in terms.values())


def test_recognition_loss_matches_cross_entropy_with_background_at_zero():
    torch.manual_seed(0)
    action, nonaction = torch.randn(3, 5), torch.randn(3, 5)
    output = GAFClassifierOutput(action[:, 1:], action, nonaction, torch.rand(3, 2), torch.zeros(3, dtype=torch.bool))
    labels = torch.tensor([0, 3, 1])
    total, terms = gaf_recognition_loss(output, labels, nonaction_weight=0.5)
    naive_ai = -F.log_softmax(action, 1)[torch.arange(3), labels + 1].mean()
    naive_nai = -F.log_softmax(nonaction, 1)[:, 0].mean()
    assert torch.allclose(terms["clf_ai"], naive_ai) and torch.allclose(terms["clf_nai"], naive_nai)
    assert torch.allclose(total, naive_ai + 0.5 * naive_nai)
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 4\)"):
        gaf_recognition_loss(output, torch.tensor([0, 4, 1]))
