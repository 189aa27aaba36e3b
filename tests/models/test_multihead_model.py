"""Backbones with one classifier per head (EPIC-Kitchens verb + noun)."""

import torch

from vidaction.models import create_model


def test_two_head_scores_sit_side_by_side():
    torch.manual_seed(0)
    model = create_model("tsm_tiny", num_classes=(3, 4), num_frames=4)
    assert model.head_sizes == (3, 4) and model.fc.out_features == 7
    scores = model(torch.randn(2, 3, 4, 32, 32))
    assert scores.shape == (2, 7)
    model.reset_classifier((5, 6))
    assert model.head_sizes == (5, 6) and model(torch.randn(1, 3, 4, 32, 32)).shape == (1, 11)
