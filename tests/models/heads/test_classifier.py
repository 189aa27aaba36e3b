"""The shared video classifier head: shapes for one and several heads, average consensus, gradients,
and a reset that keeps device, dtype and the family's initialisation."""

import pytest
import torch

from vidaction.models import create_model
from vidaction.models.heads.classifier import VideoClassifier, average_consensus, head_sizes_of


class _LastStage(VideoClassifier):
    """The head alone, on a given last-stage map ``(N, C, T, H, W)``."""

    stage_names = ["last"]

    def __init__(self, channels, num_classes, dropout=0.0):
        super().__init__()
        self.add_classifier(channels, num_classes, dropout)
        self.init_classifier()

    def forward_features(self, x):
        return {"last": x}


@pytest.mark.parametrize("num_classes, total", [(5, 5), ((3, 4), 7), ([2, 2, 2], 6)])
def test_shapes_for_one_and_several_heads(num_classes, total):
    head = _LastStage(16, num_classes)
    x = torch.randn(2, 16, 4, 3, 3)
    assert head.head_sizes == head_sizes_of(num_classes) and sum(head.head_sizes) == total
    assert head.frame_logits(head.forward_features(x)).shape == (2, 4, total)
    scores, features = head(x, return_features=True)
    assert scores.shape == (2, total) and torch.equal(features["last"], x)


def test_consensus_is_the_mean_of_per_frame_logits_and_of_pooled_features():
    torch.manual_seed(0)
    head = _LastStage(16, 5, dropout=0.5).eval()
    x = torch.randn(2, 16, 4, 3, 3)
    frames = head.frame_logits({"last": x})
    for t in range(4):
        assert torch.allclose(frames[:, t], head.fc(x[:, :, t].mean(dim=(2, 3))), atol=1e-6)
    scores = head(x)
    assert torch.allclose(scores, frames.mean(dim=1)) and torch.equal(scores, average_consensus(frames))
    # The classifier being linear, the consensus is global average pooling + fc.
    assert torch.allclose(scores, head.fc(x.mean(dim=(2, 3, 4))), atol=1e-6)


def test_gradients_reach_the_classifier_and_the_features():
    torch.manual_seed(0)
    head = _LastStage(8, (2, 3), dropout=0.2)
    x = torch.randn(2, 8, 3, 2, 2, requires_grad=True)
    head(x).logsumexp(1).sum().backward()
    assert head.fc.weight.grad.abs().sum() > 0 and head.fc.bias.grad.abs().sum() > 0
    assert x.grad.abs().sum() > 0


@pytest.mark.parametrize("name, std", [("tsm_tiny", 0.001), ("i3d_tiny", 0.01), ("r2d_tiny", 0.01)])
def test_reset_classifier_keeps_dtype_and_initialisation(name, std):
    torch.manual_seed(0)
    model = create_model(name, num_classes=3, num_frames=8).double()
    model.reset_classifier((40, 60))
    assert model.head_sizes == (40, 60) and model.fc.weight.shape == (100, model.num_features)
    assert model.fc.weight.dtype == torch.float64 and not model.fc.bias.any()
    assert abs(model.fc.weight.std().item() - std) < 0.2 * std
