"""TSN and TSM (``resnet_tsm``): what each can and cannot mix across frames, and one classifier per head
(EPIC-Kitchens verb + noun)."""

import pytest
import torch

from vidaction.models import create_model


@pytest.mark.parametrize("name, mixes", [("tsn_tiny", False), ("tsm_tiny", True)])
def test_frame_mixing(name, mixes):
    torch.manual_seed(0)
    model = create_model(name, num_classes=3, num_frames=4).eval()
    x = torch.randn(1, 3, 4, 32, 32)
    bumped = x.clone()
    bumped[:, :, 3] += 1.0
    with torch.no_grad():
        a = model.forward_features(x)["layer4"]
        b = model.forward_features(bumped)["layer4"]
    changed_other_frames = (a[:, :, :3] - b[:, :, :3]).abs().max() > 1e-6
    assert bool(changed_other_frames) == mixes


def test_two_head_scores_sit_side_by_side():
    torch.manual_seed(0)
    model = create_model("tsm_tiny", num_classes=(3, 4), num_frames=4)
    assert model.head_sizes == (3, 4) and model.fc.out_features == 7
    scores = model(torch.randn(2, 3, 4, 32, 32))
    assert scores.shape == (2, 7)
    model.reset_classifier((5, 6))
    assert model.head_sizes == (5, 6) and model(torch.randn(1, 3, 4, 32, 32)).shape == (1, 11)
