"""HCML's hierarchical contrastive loss (Sec. 3.2 eq. 2, appendix A.2)."""

import math

import pytest
import torch
import torch.nn.functional as F

from vidaction.losses.contrastive import hierarchical_contrastive_loss, sample_locations
from vidaction.models.motion.predictor import MotionPredictor


def queries_of(predictions, targets, stride):
    """The predictions eq. 2 sums over, in the documented order ``(b, delta, t, n)`` (n left to the caller):
    ``(b, delta, t, target time)`` for every start ``t`` whose step ``stride * t + delta`` has a ground truth."""
    batch, steps, _, starts = predictions.shape[:4]
    frames = targets.shape[2]
    return [(b, delta, t, stride * t + delta) for b in range(batch) for delta in range(1, steps + 1)
            for t in range(starts) if stride * t + delta < frames]


def naive_loss(predictions, targets, locations, temperature, stride=1):
    """Eq. 2 one prediction at a time, candidates listed as A.2 defines them."""
    frames, width = targets.shape[2], targets.shape[-1]
    batch, num_locations = locations.shape

    def target(b, tau, n):
        position = int(locations[b, n])
        return targets[b, :, tau, position // width, position % width]

    candidates = [(b, tau, n) for b in range(batch) for tau in range(frames) for n in range(num_locations)]
    terms = []
    for b, delta, t, target_time in queries_of(predictions, targets, stride):
        for n in range(num_locations):
            position = int(locations[b, n])
            query = predictions[b, delta - 1, :, t, position // width, position % width]
            logits = torch.stack([F.cosine_similarity(query, target(*c), dim=0, eps=1e-12)
                                  for c in candidates]) / temperature
            positive = candidates.index((b, target_time, n))
            terms.append(-(logits[positive] - torch.logsumexp(logits, dim=0)))
    return torch.stack(terms).mean()


def naive_counts(predictions, targets, locations, stride):
    """A.2's classes counted one candidate at a time, by video, spatial position (h, w) and time."""
    frames, width = targets.shape[2], targets.shape[-1]
    batch, num_locations = locations.shape

    def position(b, n):
        return divmod(int(locations[b, n]), width)

    candidates = [(b, tau, position(b, n)) for b in range(batch) for tau in range(frames)
                  for n in range(num_locations)]
    counts = {"positives": [], "spatial": [], "temporal": [], "easy": []}
    for b, _, _, target_time in queries_of(predictions, targets, stride):
        for n in range(num_locations):
            k = position(b, n)
            found = dict.fromkeys(counts, 0)
            for other, tau, m in candidates:
                if other != b:
                    found["easy"] += 1
                elif m != k:
                    found["spatial"] += 1
                elif tau != target_time:
                    found["temporal"] += 1
                else:
                    found["positives"] += 1
            for name, value in found.items():
                counts[name].append(value)
    return {name: torch.tensor(values) for name, values in counts.items()}


def perfect_predictions(targets, steps, stride=1):
    """``predictions[:, delta - 1, :, t] = targets[:, :, stride * t + delta]`` wherever that exists."""
    starts = -(-targets.shape[2] // stride)
    predictions = torch.randn(targets.shape[0], steps, targets.shape[1], starts, *targets.shape[3:])
    for delta in range(1, steps + 1):
        for t in range(starts):
            if stride * t + delta < targets.shape[2]:
                predictions[:, delta - 1, :, t] = targets[:, :, stride * t + delta]
    return predictions


@pytest.mark.parametrize("batch, num_locations, frames, steps, stride",
                         [(1, 1, 2, 1, 1), (2, 3, 4, 2, 1), (3, 5, 6, 5, 1), (4, 2, 3, 1, 1),
                          (2, 3, 6, 5, 2), (3, 2, 7, 6, 2), (2, 4, 8, 3, 4)])
def test_negative_counts_follow_section_3_2_against_a_naive_enumeration(batch, num_locations, frames, steps, stride):
    # T is the ground truth's sequence length: the lower level's, ``stride`` times the predicting level's.
    starts = -(-frames // stride)
    targets = torch.randn(batch, 4, frames, 3, 3)
    predictions = torch.randn(batch, steps, 4, starts, 3, 3)
    _, counts = hierarchical_contrastive_loss(predictions, targets, num_locations,
                                              generator=torch.Generator().manual_seed(5), temporal_stride=stride)
    locations = sample_locations(batch, 3, 3, num_locations, torch.Generator().manual_seed(5))
    naive = naive_counts(predictions, targets, locations, stride)
    num_predictions = num_locations * len(queries_of(predictions, targets, stride))
    expected = {"positives": 1, "spatial": (num_locations - 1) * frames, "temporal": frames - 1,
                "easy": (batch - 1) * num_locations * frames}
    for name, value in expected.items():
        assert counts[name].shape == (num_predictions,)
        assert torch.equal(counts[name], naive[name]), name
        assert torch.all(counts[name] == value), name
    assert sum(expected.values()) == batch * num_locations * frames


def test_every_future_step_of_the_lower_level_is_a_prediction():
    # Starts 0, 1, 2 of the upper level are steps 0, 2, 4 of a 6-step lower level; with S = T - 1 = 5
    # every later step of the sequence is predicted from each start: 5 + 3 + 1 predictions per position.
    targets = torch.randn(2, 4, 6, 2, 2)
    predictions = torch.randn(2, 5, 4, 3, 2, 2)
    assert [(t, time) for _, _, t, time in queries_of(predictions, targets, 2)[:9]] == [
        (0, 1), (1, 3), (2, 5), (0, 2), (1, 4), (0, 3), (1, 5), (0, 4), (0, 5)]
    _, counts = hierarchical_contrastive_loss(predictions, targets, 3, temporal_stride=2)
    assert counts["positives"].numel() == 2 * 3 * (5 + 3 + 1)


@pytest.mark.parametrize("batch, num_locations, frames, steps, temperature, stride",
                         [(2, 3, 4, 2, 0.07, 1), (3, 2, 3, 2, 0.5, 1), (1, 4, 5, 1, 1.0, 1), (2, 3, 6, 5, 0.07, 2),
                          (2, 2, 5, 4, 0.2, 2)])
def test_matches_a_naive_per_prediction_loop(batch, num_locations, frames, steps, temperature, stride):
    torch.manual_seed(0)
    targets = torch.randn(batch, 6, frames, 3, 4)
    predictions = torch.randn(batch, steps, 6, -(-frames // stride), 3, 4)
    loss, _ = hierarchical_contrastive_loss(predictions, targets, num_locations, temperature,
                                            torch.Generator().manual_seed(7), stride)
    locations = sample_locations(batch, 3, 4, num_locations, torch.Generator().manual_seed(7))
    assert torch.allclose(loss, naive_loss(predictions, targets, locations, temperature, stride), atol=1e-5)


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


@pytest.mark.parametrize("stride", [1, 2])
def test_orthonormal_targets_reach_the_minimum_as_temperature_falls(stride):
    batch, frames, height, width, num_locations = 2, 4, 2, 3, 6
    num_features = batch * frames * height * width
    targets = torch.eye(num_features).T.reshape(num_features, batch, frames, height, width).transpose(0, 1)
    predictions = perfect_predictions(targets, 3, stride)
    num_candidates = batch * num_locations * frames
    for temperature in (1.0, 0.2, 0.07, 0.01):
        loss, _ = hierarchical_contrastive_loss(predictions, targets, num_locations, temperature,
                                                temporal_stride=stride)
        expected = math.log(1 + (num_candidates - 1) * math.exp(-1 / temperature))
        assert loss.item() == pytest.approx(expected, rel=1e-4, abs=1e-6)
    assert loss < 1e-6


def test_gradients_reach_the_predictor():
    torch.manual_seed(0)
    predictor = MotionPredictor(8, 4, 16, 4, steps=7, temporal_stride=2)
    current = torch.randn(2, 8, 4, 3, 3)
    previous = torch.randn(2, 4, 8, 6, 6)
    predictions, targets, stride = predictor(current, previous)
    loss, _ = hierarchical_contrastive_loss(predictions, targets, num_locations=5, temporal_stride=stride)
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


def test_start_times_must_cover_the_ground_truth_at_the_temporal_stride():
    with pytest.raises(ValueError, match=r"ceil\(T / 2\) start times"):
        hierarchical_contrastive_loss(torch.randn(2, 1, 4, 3, 2, 2), torch.randn(2, 4, 7, 2, 2), 1, temporal_stride=2)
    with pytest.raises(ValueError, match="temporal_stride must be positive"):
        hierarchical_contrastive_loss(torch.randn(2, 1, 4, 3, 2, 2), torch.randn(2, 4, 3, 2, 2), 1, temporal_stride=0)


def test_temperature_must_be_positive():
    with pytest.raises(ValueError, match="temperature"):
        hierarchical_contrastive_loss(torch.randn(1, 1, 4, 3, 2, 2), torch.randn(1, 4, 3, 2, 2), 1, temperature=0.0)
