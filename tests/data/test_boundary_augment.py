"""AFSD's boundary-contrastive augmentation: the gaps, the paste, its proposals and when it refuses."""

import numpy as np
import pytest
import torch

from vidaction.data.boundary_augment import background_gaps, paste_background, paste_length


def ramp(steps, channels=2, spatial=()):
    """``(C, T, ...)`` whose value at step ``t`` is ``t``."""
    values = torch.arange(steps, dtype=torch.float32).view(1, steps, *([1] * len(spatial)))
    return values.expand(channels, steps, *spatial).clone()


def test_gaps_are_the_complement_of_the_union_inside_the_valid_steps():
    segments = np.array([[10.0, 30.0], [20.0, 40.5], [60.2, 70.0], [62.0, 65.0]])
    assert background_gaps(segments, 100) == [(0, 10), (41, 60), (70, 99)]
    assert background_gaps(segments, 80) == [(0, 10), (41, 60), (70, 79)]
    assert background_gaps(np.array([[0.0, 99.0]]), 100) == []


def test_paste_length_is_the_ceiling_of_the_shortest_target():
    assert paste_length(np.array([12.0, 7.2, 30.0])) == 8
    assert paste_length(np.array([0.3])) == 1


@pytest.mark.parametrize("seed", range(40))
def test_the_paste_splits_an_instance_with_background_and_moves_the_rest(seed):
    segments = np.array([[30.0, 60.0]])
    length, valid = 6, 100
    data = ramp(valid + 20, spatial=(3, 3))
    out = paste_background(data, segments, valid, length, np.random.default_rng(seed))
    assert out is not None and out.input.shape == data.shape and out.proposals.shape == (3, 2)
    values = out.input[0, :, 0, 0]
    assert torch.equal(out.input[:, valid:], data[:, valid:])  # padding untouched
    assert sorted(values.tolist()) == sorted(data[0, :, 0, 0].tolist())  # a permutation of the steps
    (a0, a1), (b0, b1), (g0, g1) = out.proposals.tolist()
    assert a1 - a0 + b1 - b0 == pytest.approx(60.0 - 30.0) and g1 - g0 == length - 2
    assert a1 < g0 < g1 < b0 and g0 == a1 + 1 and b0 == g1 + 1
    pasted = values[int(a1):int(b0)]
    assert len(pasted) == length
    assert ((pasted < 30) | (pasted >= 60)).all()  # the stretch is background (step 60 ends the action)
    assert torch.equal(pasted, torch.arange(pasted[0].item(), pasted[0].item() + length))  # and contiguous
    split = 30 + int(a1 - a0)  # the action's halves, in order, on either side of the stretch
    assert torch.equal(values[int(a0):int(a1)], torch.arange(30.0, split))
    assert torch.equal(values[int(b0):int(b1)], torch.arange(float(split), 60.0))

def test_both_sides_of_the_instance_are_drawn():
    segments = np.array([[30.0, 60.0]])
    sides = {paste_background(ramp(100), segments, 100, 6, np.random.default_rng(seed)).proposals[0, 0].item() < 30
             for seed in range(40)}
    assert sides == {True, False}


def test_no_long_instance_or_no_background_gives_none():
    data = ramp(100)
    assert paste_background(data, np.array([[30.0, 41.0]]), 100, 6, np.random.default_rng(0)) is None
    assert paste_background(data, np.array([[2.0, 97.0]]), 100, 6, np.random.default_rng(0)) is None
    assert paste_background(data, np.zeros((0, 2)), 100, 6, np.random.default_rng(0)) is None
