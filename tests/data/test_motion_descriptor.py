"""The synthetic data's motion descriptor (``vidaction.data.motion_descriptor``): motion semantics,
the fixed projection, non-square frames, and learnability of action against background."""

import numpy as np
import pytest
import torch

from vidaction.data.motion_descriptor import (
    DESCRIPTOR_DIMS,
    PAIR_DIMS,
    motion_descriptor,
    motion_features,
    projection_matrix,
)
from vidaction.data.synthetic_scenes import DETECTION_CLASSES, Instance, plan_instances, render_detection_video


def test_descriptor_sees_the_direction_of_slides_and_bounces():
    fps, frames = 10.0, 200
    mean_u, mean_v = 32, 33  # columns of the window means of the weighted mean flow
    std = 3 * PAIR_DIMS  # offset of the standard deviations over the window's pairs
    for name in ("SlideRight", "SlideLeft", "Bounce"):
        label = DETECTION_CLASSES.index(name)
        instances = [Instance(label, 40, 70), Instance(label, 120, 150)]
        video = render_detection_video(np.random.default_rng(label), instances, [], frames, fps, 64)
        descriptor = motion_descriptor(video)
        times = 0.1 + np.arange(len(descriptor)) * 0.2
        inside = np.zeros(len(descriptor), dtype=bool)
        for event in instances:
            inside |= (times >= event.start / fps + 0.6) & (times < event.end / fps - 0.6)
        background = np.ones(len(descriptor), dtype=bool)
        for event in instances:
            background &= (times < event.start / fps - 1) | (times >= event.end / fps + 1)
        u, v = descriptor[inside, mean_u].mean(), descriptor[inside, mean_v].mean()
        if name == "SlideRight":
            assert u > 0.3 and u > 2 * abs(v)
        elif name == "SlideLeft":
            assert u < -0.3 and -u > 2 * abs(v)
        else:  # up and down: the vertical flow swings from pair to pair, far more than in the background
            spread_u, spread_v = descriptor[:, std + mean_u], descriptor[:, std + mean_v]
            assert spread_v[inside].mean() > 3 * spread_v[background].mean()
            assert spread_v[inside].mean() > spread_u[inside].mean()


def test_features_are_the_fixed_projection_of_the_descriptor():
    video = render_detection_video(np.random.default_rng(0), [Instance(4, 20, 40)], [], 61, 10.0, 32)
    descriptor = motion_descriptor(video)
    assert descriptor.shape == (31, DESCRIPTOR_DIMS) and np.isfinite(descriptor).all()
    assert np.array_equal(projection_matrix(24), projection_matrix(24))
    assert np.allclose(motion_features(video, 24), descriptor @ projection_matrix(24), atol=1e-5)
    with pytest.raises(ValueError, match="multiples of 8"):
        motion_descriptor(video[:, :30, :30])


def _positions(seed, split, count, size=48):
    features, labels = [], []
    for k in range(count):
        rng = np.random.default_rng((seed, split, k))
        frames = int(rng.uniform(20, 30) * 10)
        instances, ambiguous = plan_instances(rng, frames, 10.0, primary=k % len(DETECTION_CLASSES))
        array = motion_features(render_detection_video(rng, instances, ambiguous, frames, 10.0, size), 64)
        times = 0.1 + 0.2 * np.arange(len(array))
        target = np.zeros(len(array), dtype=np.int64)
        for event in ambiguous:
            target[(times >= event.start / 10) & (times < event.end / 10)] = -1
        for event in instances:
            target[(times >= event.start / 10) & (times < event.end / 10)] = event.label + 1
        features.append(array)
        labels.append(target)
    features, labels = np.concatenate(features), np.concatenate(labels)
    return features[labels >= 0], labels[labels >= 0]


@pytest.mark.slow
def test_a_per_position_logistic_regression_beats_chance():
    x_train, y_train = _positions(7, 0, 10)
    x_test, y_test = _positions(7, 1, 5)
    mean, std = x_train.mean(0), x_train.std(0) + 1e-6
    torch.manual_seed(0)
    model = torch.nn.Linear(x_train.shape[1], len(DETECTION_CLASSES) + 1)
    inputs, targets = torch.from_numpy((x_train - mean) / std), torch.from_numpy(y_train)
    optimizer = torch.optim.LBFGS(model.parameters(), max_iter=200, line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(inputs), targets) + 1e-3 * model.weight.square().sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    with torch.no_grad():
        probabilities = model(torch.from_numpy((x_test - mean) / std)).softmax(1).numpy()
    action, predicted = y_test > 0, probabilities[:, 0] < 0.5
    balanced = 0.5 * (predicted[action].mean() + (~predicted[~action]).mean())
    class_accuracy = (probabilities[action, 1:].argmax(1) + 1 == y_test[action]).mean()
    assert balanced > 0.65
    assert class_accuracy > 0.3  # 5 classes


def test_descriptor_of_non_square_frames():
    video = render_detection_video(np.random.default_rng(1), [Instance(2, 20, 40)], [], 60, 10.0, 64)
    assert motion_descriptor(video[:, :, 8:56]).shape == (30, DESCRIPTOR_DIMS)
