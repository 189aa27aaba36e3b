"""Samplers and clip transforms."""

import numpy as np
import pytest
import torch

from vidaction.config import DataConfig
from vidaction.data.sampling import DenseSampler, SegmentSampler
from vidaction.data.transforms import (CenterCrop, MultiScaleCrop, Normalize, RandomHorizontalFlip,
                                       RandomResizedCrop, Resize, ThreeCrop, ToTensor, build_test_transform,
                                       build_train_transform, flip_label_map)


def test_segment_sampler_one_frame_per_segment():
    rng = np.random.default_rng(0)
    train = SegmentSampler(8, train=True)
    for _ in range(20):
        (clip,) = train(80, rng)
        assert [i // 10 for i in clip] == list(range(8))
    assert SegmentSampler(4, train=False)(40, rng) == [[5, 15, 25, 35]]
    two = SegmentSampler(4, train=False)(40, rng, num_clips=2)
    assert two == [[2, 12, 22, 32], [7, 17, 27, 37]]


def test_segment_sampler_short_video_repeats_frames():
    clip = SegmentSampler(8, train=False)(3, np.random.default_rng(0))[0]
    assert len(clip) == 8 and sorted(set(clip)) == [0, 1, 2] and clip == sorted(clip)


def test_dense_sampler_stride_and_views():
    rng = np.random.default_rng(0)
    (clip,) = DenseSampler(4, 2, train=True)(100, rng)
    assert np.all(np.diff(clip) == 2) and 0 <= clip[0] <= 93
    views = DenseSampler(4, 2, train=False)(100, rng, num_clips=3)
    assert len(views) == 3 and views[0][0] < views[1][0] < views[2][0]
    assert DenseSampler(8, 4, train=False)(10, rng)[0][-1] == 9


def test_samplers_are_deterministic_given_the_generator():
    a = SegmentSampler(8, True)(50, np.random.default_rng(7))
    b = SegmentSampler(8, True)(50, np.random.default_rng(7))
    assert a == b


def _clip(t=4, h=60, w=80):
    return torch.arange(t * h * w * 3, dtype=torch.float32).remainder(251).view(t, h, w, 3).numpy().astype(np.uint8)


def test_same_crop_for_every_frame():
    clip = np.repeat(_clip(1), 5, axis=0)
    x, _ = ToTensor()(clip, 0, np.random.default_rng(0))
    for crop in (MultiScaleCrop(32), RandomResizedCrop(32), CenterCrop(32)):
        out, _ = crop(x, 0, np.random.default_rng(3))
        assert out.shape == (5, 3, 32, 32)
        assert torch.equal(out[0], out[4])


def test_resize_short_side_and_three_crop():
    x, _ = ToTensor()(_clip(), 0, None)
    y, _ = Resize(40)(x, 0, None)
    assert y.shape[-2:] == (40, 53)
    views, _ = ThreeCrop(40)(y, 0, None)
    assert views.shape == (3, 4, 3, 40, 40)
    assert torch.equal(views[0], y[..., :40]) and torch.equal(views[2], y[..., -40:])


def test_flip_swaps_mirrored_classes():
    classes = ["left_to_right", "right_to_left", "other"]
    mapping = flip_label_map([["left_to_right", "right_to_left"]], classes)
    assert mapping == {0: 1, 1: 0}
    x = torch.rand(2, 3, 4, 5)
    flipped, label = RandomHorizontalFlip(1.0, mapping)(x, 0, np.random.default_rng(0))
    assert label == 1 and torch.equal(flipped, x.flip(-1))
    _, label = RandomHorizontalFlip(1.0, mapping)(x, 2, np.random.default_rng(0))
    assert label == 2
    with pytest.raises(ValueError, match="unknown class 'up'"):
        flip_label_map([["up", "other"]], classes)


def test_normalize_channels_first_and_statistics():
    x = torch.full((2, 3, 4, 4), 127.5)
    y, _ = Normalize([0.5, 0.5, 0.5], [0.25, 0.25, 0.25])(x, 0, None)
    assert y.shape == (3, 2, 4, 4) and torch.allclose(y, torch.zeros_like(y))
    v, _ = Normalize([0, 0, 0], [1, 1, 1])(torch.full((3, 2, 3, 4, 4), 255.0), 0, None)
    assert v.shape == (3, 3, 2, 4, 4) and torch.allclose(v, torch.ones_like(v))


def test_built_pipelines_output_shapes():
    cfg = DataConfig(input_size=32, resize_short=40, test_crops=3)
    clip = _clip()
    train, _ = build_train_transform(cfg)(clip, 0, np.random.default_rng(0))
    test, _ = build_test_transform(cfg)(clip, 0, np.random.default_rng(0))
    assert train.shape == (3, 4, 32, 32) and test.shape == (3, 3, 4, 32, 32)
