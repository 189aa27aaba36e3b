"""HCML's hierarchical contrastive loss (Sec. 3.2 eq. 2, appendix A.2)."""

import math

import pytest
import torch
import torch.nn.functional as F

from vidaction.losses.contrastive import hierarchical_contrastive_loss, sample_locations
from vidaction.models.motion.predictor import MotionPredictor


def naive_loss(predictions, targets, locations, temperature):
    """Eq. 2 one prediction at a time, candidates listed as A.2 defines them."""
    batch, steps, _, frames, _, width = predictions.shape
    num_locations = locations.shape[1]

    def target(b, tau, n):
        position = int(locations[b, n])
        return targets[b, :, tau, position // width, position % width]

    candidates = [(b, tau, n) for b in range(batch) for tau in range(frames) for n in range(num_locations)]
    terms = []
    for b in range(batch):
        for delta in range(1, steps + 1):
            for t in range(frames - delta):
                for n in range(num_locations):
                    position = int(locations[b, n])
                    query = predictions[b, delta - 1, :, t, position // width, position % width]
                    logits = torch.stack([F.cosine_similarity(query, target(*c), dim=0, eps=1e-12)
                                          for c in candidates]) / temperature
                    positive = candidates.index((b, t + delta, n))
                    terms.append(-(logits[positive] - torch.logsumexp(logits, dim=0)))
    return torch.stack(terms).mean()


def perfect_predictions(targets, steps):
    """``predictions[:, delta - 1, :, t] = targets[:, :, t + delta]`` wherever that exists."""
    predictions = torch.randn(targets.shape[0], steps, *targets.shape[1:])
    for delta in range(1, steps + 1):
        predictions[:, delta - 1, :, :-delta] = targets[:, :, delta:]
    return predictions


@pytest.mark.parametrize("batch, num_locations, frames, steps",
                         [(1, 1, 2, 1), (2, 3, 4, 2), (3, 5, 6, 5), (4, 2, 3, 1)])
def test_negative_counts_follow_section_3_2(batch, num_locations, frames, steps):
    targets = torch.randn(batch, 4, frames, 3, 3)
    predictions = torch.randn(batch, steps, 4, frames, 3, 3)
    _, counts = hierarchical_contrastive_loss(predictions, targets, num_locations)
    num_predictions = batch * num_locations * sum(frames - delta for delta in range(1, steps + 1))
    expected = {"positives": 1, "spatial": (num_locations - 1) * frames, "temporal": frames - 1,
                "easy": (batch - 1) * num_locations * frames}
    for name, value in expected.items():
        assert counts[name].shape == (num_predictions,)
        assert torch.all(counts[name] == value), name
    assert sum(expected.values()) == batch * num_locations * frames


@pytest.mark.parametrize("batch, num_locations, frames, steps, temperature",
                         [(2, 3, 4, 2, 0.07), (3, 2, 3, 2, 0.5), (1, 4, 5, 1, 1.0)])
def test_matches_a_naive_per_prediction_loop(batch, num_locations, frames, steps, temperature):
    torch.manual_seed(0)
    targets = torch.randn(batch, 6, frames, 3, 4)
    predictions = torch.randn(batch, steps, 6, frames, 3, 4)
    loss, _ = hierarchical_contrastive_loss(predictions, targets, num_locations, temperature,
                                            torch.Generator().manual_seed(7))
    locations = sample_locations(batch, 3, 4, num_locations, torch.Generator().manual_seed(7))
    assert torch.allclose(loss, naive_loss(predictions, targets, locations, temperature), atol=1e-5)


def test_sampled_locations_are_distinct_per_video_and_reproducible():
    locations = sample_locations(6, 4, 5, 7, torch.Generator().manual_seed(3))
    assert locations.shape == (6, 7) and locations.dtype == torch.int64
    assert all(len(set(row.tolist())) == 7 for row in locations)
    assert locations.min() >= 0 and locations.max() < 20
    assert torch.equal(locations, sample_locations(6, 4, 5, 7, torch.Generator().manual_seed(3)))
    assert not torch.equal(locations[0], locations[1])


def test_perfect_predictions_score_lower_than_random_ones():
    torch.manual_seed(0)
    targets = torch.randn(3, 16, 5, 4, 4)
    perfect = perfect_predictions(targets, 3)
    random = torch.randn_like(perfect)
    loss_perfect, _ = hierarchical_contrastive_loss(perfect, targets, 6, generator=torch.Generator().manual_seed(0))
    loss_random, _ = hierarchical_contrastive_loss(random, targets, 6, generator=torch.Generator().manual_seed(0))
    assert loss_perfect < loss_random


def test_orthonormal_targets_reach_the_minimum_as_temperature_falls():
    batch, frames, height, width, num_locations = 2, 4, 2, 3, 6
    num_features = batch * frames * height * width
    targets = torch.eye(num_features).T.reshape(num_features, batch, frames, height, width).transpose(0, 1)
    predictions = perfect_predictions(targets, 2)
    num_candidates = batch * num_locations * frames
    for temperature in (1.0, 0.2, 0.07, 0.01):
        loss, _ = hierarchical_contrastive_loss(predictions, targets, num_locations, temperature)
        expected = math.log(1 + (num_candidates - 1) * math.exp(-1 / temperature))
        assert loss.item() == pytest.approx(expected, rel=1e-4, abs=1e-6)
    assert loss < 1e-6


def test_gradients_reach_the_predictor():
    torch.manual_seed(0)
    predictor = MotionPredictor(8, 4, 16, 4, steps=2)
    current = torch.randn(2, 8, 4, 3, 3)
    previous = torch.randn(2, 4, 8, 6, 6)
    loss, _ = hierarchical_contrastive_loss(*predictor(current, previous), num_locations=5)
    loss.backward()
    for name, parameter in predictor.named_parameters():
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name


def test_the_same_generator_seed_gives_the_same_loss():
    torch.manual_seed(0)
    targets = torch.randn(3, 8, 4, 5, 5)
    predictions = torch.randn(3, 2, 8, 4, 5, 5)

    def loss_with(seed):
        return hierarchical_contrastive_loss(predictions, targets, 4, generator=torch.Generator().manual_seed(seed))[0]

    assert torch.equal(loss_with(1), loss_with(1))
    assert not torch.equal(loss_with(1), loss_with(2))


def test_too_many_locations_is_a_clear_error():
    with pytest.raises(ValueError, match=r"num_locations must be in 1 \.\. H\*W = 2\*3 = 6, got 7"):
        hierarchical_contrastive_loss(torch.randn(1, 1, 4, 3, 2, 3), torch.randn(1, 4, 3, 2, 3), 7)
    with pytest.raises(ValueError, match="got 0"):
        hierarchical_contrastive_loss(torch.randn(1, 1, 4, 3, 2, 3), torch.randn(1, 4, 3, 2, 3), 0)


@pytest.mark.parametrize("prediction_shape, target_shape", [
    ((2, 1, 4, 3, 2, 2), (2, 4, 3, 2)),
    ((2, 4, 3, 2, 2), (2, 4, 3, 2, 2)),
    ((2, 1, 4, 3, 2, 2), (3, 4, 3, 2, 2)),
    ((2, 1, 5, 3, 2, 2), (2, 4, 3, 2, 2)),
    ((2, 1, 4, 3, 2, 2), (2, 4, 4, 2, 2)),
    ((2, 1, 4, 3, 2, 2), (2, 4, 3, 2, 3)),
    ((2, 3, 4, 3, 2, 2), (2, 4, 3, 2, 2)),
])
def test_shape_mismatches_name_the_shapes(prediction_shape, target_shape):
    with pytest.raises(ValueError) as error:
        hierarchical_contrastive_loss(torch.randn(prediction_shape), torch.randn(target_shape), 1)
    assert str(prediction_shape) in str(error.value) and str(target_shape) in str(error.value)


def test_temperature_must_be_positive():
    with pytest.raises(ValueError, match="temperature"):
        hierarchical_contrastive_loss(torch.randn(1, 1, 4, 3, 2, 2), torch.randn(1, 4, 3, 2, 2), 1, temperature=0.0)
