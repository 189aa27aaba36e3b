"""HCML efficacy score and its linear probe."""

import math

import pytest
import torch

from vidaction.evaluation.efficacy import efficacy_score, linear_probe


def test_score_formula():
    assert efficacy_score(0.9, 0.6) == pytest.approx(3.0)
    assert math.isinf(efficacy_score(0.8, 0.8))


def test_informative_features_score_higher_than_noise():
    g = torch.Generator().manual_seed(0)
    labels = torch.randint(0, 3, (120,), generator=g)
    centres = torch.randn(3, 16, generator=g) * 3
    informative = centres[labels][:, :, None, None] + torch.randn(120, 16, 2, 2, generator=g)
    noise = torch.randn(120, 16, 2, 2, generator=g)
    good = linear_probe(informative[:80], labels[:80], informative[80:], labels[80:], 3)
    bad = linear_probe(noise[:80], labels[:80], noise[80:], labels[80:], 3)
    assert good.test_accuracy > 0.9 and bad.test_accuracy < 0.6
    assert good.score > bad.score
