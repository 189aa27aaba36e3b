"""Segment (TSN) and dense (I3D) sampling: ranges, spacing, short videos, determinism."""

import numpy as np
import pytest

from vidaction.data.sampling import DenseSampler, SegmentSampler


@pytest.mark.parametrize("num_video_frames", [1, 3, 8, 9, 37, 300])
@pytest.mark.parametrize("train", [True, False])
def test_segment_indices_are_sorted_and_one_per_segment(num_video_frames, train):
    sampler = SegmentSampler(8, train)
    rng = np.random.default_rng(0)
    for clip in sampler(num_video_frames, rng, num_clips=3):
        assert len(clip) == 8 and clip == sorted(clip)
        assert all(0 <= i < num_video_frames for i in clip)
        segment = num_video_frames / 8
        for k, i in enumerate(clip):
            assert np.floor(k * segment) <= i < np.ceil((k + 1) * segment)


def test_segment_training_draws_anywhere_in_a_segment():
    rng = np.random.default_rng(1)
    seen = {i for _ in range(200) for i in SegmentSampler(4, True)(40, rng)[0]}
    assert seen == set(range(40))


def test_segment_test_views_are_centres_then_even_offsets():
    rng = np.random.default_rng(0)
    assert SegmentSampler(4, False)(40, rng) == [[5, 15, 25, 35]]
    assert SegmentSampler(4, False)(40, rng, num_clips=2) == [[2, 12, 22, 32], [7, 17, 27, 37]]


def test_segment_short_video_repeats_frames_in_order():
    assert SegmentSampler(8, False)(3, np.random.default_rng(0)) == [[0, 0, 0, 1, 1, 2, 2, 2]]
    assert SegmentSampler(8, True)(8, np.random.default_rng(0)) == [list(range(8))]


def test_dense_window_stride_and_training_start():
    rng = np.random.default_rng(0)
    starts = set()
    for _ in range(300):
        (clip,) = DenseSampler(4, 2, True)(20, rng)
        assert np.all(np.diff(clip) == 2) and 0 <= clip[0] and clip[-1] <= 19
        starts.add(clip[0])
    assert starts == set(range(14))


def test_dense_test_windows_are_evenly_spaced():
    sampler = DenseSampler(4, 2, False)
    assert sampler(107, np.random.default_rng(0)) == [[50, 52, 54, 56]]
    views = sampler(107, np.random.default_rng(0), num_clips=3)
    assert [v[0] for v in views] == [16, 50, 83]
    assert all(np.all(np.diff(v) == 2) for v in views)


def test_dense_window_longer_than_video_repeats_the_last_frame():
    assert DenseSampler(5, 3, False)(7, np.random.default_rng(0)) == [[0, 3, 6, 6, 6]]


@pytest.mark.parametrize("sampler", [SegmentSampler(8, True), DenseSampler(8, 4, True)])
def test_deterministic_given_the_generator(sampler):
    a = sampler(100, np.random.default_rng(7), num_clips=2)
    assert a == sampler(100, np.random.default_rng(7), num_clips=2)
    assert a != sampler(100, np.random.default_rng(8), num_clips=2)


def test_invalid_arguments():
    with pytest.raises(ValueError, match="num_segments"):
        SegmentSampler(0, True)
    with pytest.raises(ValueError, match="without frames"):
        DenseSampler(4, 1, True)(0, np.random.default_rng(0))


def test_indices_at_fps_resamples_by_time():
    from vidaction.data.sampling import indices_at_fps

    thirty = np.arange(90) / 30.0
    assert indices_at_fps(thirty, 10.0).tolist() == list(range(0, 90, 3))
    assert len(indices_at_fps(thirty, 25.0)) == 75
    assert indices_at_fps(thirty, 25.0)[:6].tolist() == [0, 1, 2, 3, 4, 6]
    ten = np.arange(10) / 10.0
    assert indices_at_fps(ten, 20.0).tolist() == [i // 2 for i in range(20)]
    assert indices_at_fps(ten, 20.0, duration=0.5).tolist() == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4]
