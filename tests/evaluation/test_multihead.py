"""Verb/noun/action accuracy of two-head scores and the summed two-head loss."""

import itertools

import torch
import torch.nn.functional as F

from vidaction.engine.objectives import classification_loss, correct_predictions
from vidaction.evaluation.classification import multihead_metrics


def naive_action_topk(scores, labels, sizes, k):
    verb, noun = scores.split(sizes, dim=1)
    hits = 0
    for v, n, (lv, ln) in zip(verb.softmax(1), noun.softmax(1), labels.tolist()):
        pairs = sorted(itertools.product(range(sizes[0]), range(sizes[1])), key=lambda p: -(v[p[0]] * n[p[1]]).item())
        hits += (lv, ln) in pairs[:k]
    return hits / len(labels)


def test_action_accuracy_matches_product_of_softmaxes():
    torch.manual_seed(0)
    sizes = (4, 5)
    scores = torch.randn(23, 9)
    labels = torch.stack([torch.randint(0, 4, (23,)), torch.randint(0, 5, (23,))], dim=1)
    metrics = multihead_metrics(scores, labels, [("verb", 4), ("noun", 5)], chunk=7)
    assert metrics["verb_top1"] == (scores[:, :4].argmax(1) == labels[:, 0]).float().mean().item()
    assert metrics["noun_top1"] == (scores[:, 4:].argmax(1) == labels[:, 1]).float().mean().item()
    for k in (1, 5):
        assert abs(metrics[f"action_top{k}"] - naive_action_topk(scores, labels, sizes, k)) < 1e-6
        assert metrics[f"top{k}"] == metrics[f"action_top{k}"]


def test_perfect_scores_give_full_accuracy_and_summed_loss():
    labels = torch.tensor([[0, 2], [3, 1]])
    scores = torch.full((2, 9), -20.0)
    scores[0, 0] = scores[0, 4 + 2] = scores[1, 3] = scores[1, 4 + 1] = 20.0
    metrics = multihead_metrics(scores, labels, [("verb", 4), ("noun", 5)])
    assert metrics["action_top1"] == metrics["verb_top1"] == metrics["noun_top1"] == 1.0
    assert correct_predictions(scores, labels, (4, 5)).all()
    logits = torch.randn(2, 9)
    expected = F.cross_entropy(logits[:, :4], labels[:, 0]) + F.cross_entropy(logits[:, 4:], labels[:, 1])
    assert torch.allclose(classification_loss(logits, labels, (4, 5)), expected)
    assert classification_loss(scores, labels, (4, 5)) < 1e-6
