"""AFSD test-time decoding: refined segments, combined scores, seconds, window merging."""

import math

import pytest
import torch

from vidaction.evaluation.postprocess import (
    Candidates,
    decode_windows,
    detect_videos,
    fuse_streams,
    merge_video_detections,
    window_candidates,
)
from vidaction.models.heads.afsd import AFSDOutput


def hand_made_output(batch=1, steps=16):
    """Two levels on a ``steps``-step window: strides 4 and 8, K = 2 classes."""
    centers = torch.tensor([2.0, 6.0, 10.0, 14.0, 4.0, 12.0])
    locations = len(centers)
    cls_logits = torch.full((batch, locations, 3), -20.0)
    cls_logits[..., 0] = 20.0  # background everywhere unless set
    return AFSDOutput(
        cls_logits=cls_logits, distances=torch.ones(batch, locations, 2),
        refined_offsets=torch.zeros(batch, locations, 2),
        refined_logits=cls_logits.clone(), quality_logits=torch.full((batch, locations), 20.0), centers=centers,
        strides=torch.tensor([4.0] * 4 + [8.0] * 2), mask=torch.ones(batch, locations, dtype=torch.bool),
        frame_mask=torch.ones(batch, steps, dtype=torch.bool), frame_features=torch.zeros(batch, 2, steps),
        loc_boundary=torch.zeros(batch, 2, 4), conf_boundary=torch.zeros(batch, 2, 4), level_sizes=(4, 2))


def set_detection(output, b, location, label, distances, offsets=(0.0, 0.0), logit=20.0, refined_logit=None,
                  quality=20.0):
    output.cls_logits[b, location] = -20.0
    output.cls_logits[b, location, label + 1] = logit
    output.refined_logits[b, location] = -20.0
    output.refined_logits[b, location, label + 1] = logit if refined_logit is None else refined_logit
    output.distances[b, location] = torch.tensor(distances)
    output.refined_offsets[b, location] = torch.tensor(offsets)
    output.quality_logits[b, location] = quality


def test_decoding_refines_distances_and_combines_scores():
    output = hand_made_output()
    # Centre 6, coarse (2, 4), offsets (0.5, -0.25) in half-lengths of 3: refined (3.5, 3.25) -> [2.5, 9.25].
    set_detection(output, 0, 1, label=1, distances=(2.0, 4.0), offsets=(0.5, -0.25), logit=0.0, refined_logit=2.0,
                  quality=0.5)
    segments, scores = decode_windows(output)
    assert segments.shape == (1, 6, 2) and scores.shape == (1, 6, 2)
    assert torch.allclose(segments[0, 1], torch.tensor([2.5, 9.25]))
    coarse = torch.tensor([-20.0, -20.0, 0.0]).softmax(0)[2]
    refined = torch.tensor([-20.0, -20.0, 2.0]).softmax(0)[2]
    expected = (coarse + refined) / 2 * torch.sigmoid(torch.tensor(0.5))
    assert torch.allclose(scores[0, 1, 1], expected)
    assert scores[0, 0].max() < 1e-8  # background-confident locations score nothing


def test_segments_are_clamped_to_the_valid_part_of_the_window():
    output = hand_made_output(batch=2)
    set_detection(output, 0, 0, label=0, distances=(5.0, 30.0))
    set_detection(output, 1, 3, label=0, distances=(1.0, 5.0))
    frame_mask = output.frame_mask.clone()
    frame_mask[1, 11:] = False
    mask = output.mask.clone()
    mask[1, 3] = False
    segments, scores = decode_windows(output._replace(frame_mask=frame_mask, mask=mask))
    assert segments[0, 0].tolist() == [0.0, 16.0]
    assert segments[1, 3].tolist() == [11.0, 11.0]
    assert scores[1, 3].abs().sum() == 0  # an invalid location never scores


def test_window_positions_map_to_seconds():
    segments = torch.tensor([[2.0, 10.0], [0.0, 4.0]])
    scores = torch.tensor([[0.5, 0.005], [0.0, 0.9]])
    candidates = window_candidates(segments, scores, window_start=128.0, seconds_per_step=1 / 25, time_offset=0.5)
    assert candidates.labels.tolist() == [0, 1]
    assert torch.allclose(candidates.scores, torch.tensor([0.5, 0.9]))
    expected = torch.tensor([[0.5 + 130 / 25, 0.5 + 138 / 25], [0.5 + 128 / 25, 0.5 + 132 / 25]], dtype=torch.float64)
    assert torch.allclose(candidates.segments, expected)


def test_merging_windows_suppresses_duplicates_and_sorts_by_score():
    first = Candidates(torch.tensor([[10.0, 20.0], [40.0, 50.0]]), torch.tensor([0.9, 0.6]), torch.tensor([0, 1]))
    second = Candidates(torch.tensor([[10.0, 20.0], [100.0, 110.0]]), torch.tensor([0.8, 0.7]), torch.tensor([0, 0]))
    detections = merge_video_detections([first, second], sigma=0.5)
    assert [(d.segment, d.label) for d in detections] == [((10.0, 20.0), 0), ((100.0, 110.0), 0), ((40.0, 50.0), 1),
                                                          ((10.0, 20.0), 0)]
    assert [d.score for d in detections[:3]] == pytest.approx([0.9, 0.7, 0.6])
    assert detections[3].score == pytest.approx(0.8 * math.exp(-1 / 0.5))
    assert len(merge_video_detections([first, second], max_detections=2)) == 2
    clipped = merge_video_detections([first, second], duration=45.0)
    assert ((40.0, 45.0), 1) in [(d.segment, d.label) for d in clipped]
    assert all(d.segment[1] <= 45.0 for d in clipped) and len(clipped) == 3  # [100, 110] is empty after clipping
    assert merge_video_detections([]) == []


def test_detect_videos_end_to_end_on_two_videos():
    output = hand_made_output(batch=3)
    # Video "a" has windows starting at steps 0 and 8, video "b" one window; 0.5 s per step.
    set_detection(output, 0, 3, label=1, distances=(2.0, 10.0), quality=2.0)  # centre 14: [12, 24] -> [12, 16] steps
    set_detection(output, 1, 2, label=1, distances=(2.0, 6.0))  # centre 10: [8, 16] + 8 -> [16, 24] steps
    set_detection(output, 2, 4, label=0, distances=(4.0, 4.0))  # centre 4: [0, 8], then 10 s offset
    detections = detect_videos(output, video_ids=["a", "a", "b"], window_starts=[0, 8, 0], seconds_per_step=0.5,
                               time_offset=[0.0, 0.0, 10.0])
    assert set(detections) == {"a", "b"}
    a = detections["a"]
    assert [(d.segment, d.label) for d in a] == [((8.0, 12.0), 1), ((6.0, 8.0), 1)]
    assert a[0].score == pytest.approx(float(torch.tensor(20.0).sigmoid()), rel=1e-6)
    assert a[1].score == pytest.approx(float(torch.tensor(2.0).sigmoid()), rel=1e-6)  # touching segments: IoU 0
    assert [(d.segment, d.label) for d in detections["b"]] == [((10.0, 14.0), 0)]
    with pytest.raises(ValueError, match="one video id and window start per window"):
        detect_videos(output, ["a"], [0], 0.5)
    with pytest.raises(ValueError, match="time_offset has 2 values for 3 windows"):
        detect_videos(output, ["a", "a", "b"], [0, 8, 0], 0.5, time_offset=[0.0, 1.0])


def test_fusing_streams_averages_raw_predictions():
    rgb, flow = hand_made_output(), hand_made_output()
    set_detection(rgb, 0, 1, label=0, distances=(2.0, 4.0), logit=4.0, quality=1.0)
    set_detection(flow, 0, 1, label=0, distances=(4.0, 8.0), logit=0.0, quality=3.0)
    fused = fuse_streams([rgb, flow])
    assert fused.distances[0, 1].tolist() == [3.0, 6.0]
    assert fused.cls_logits[0, 1].tolist() == [-20.0, 2.0, -20.0]
    assert fused.quality_logits[0, 1] == 2.0
    assert fused.centers is rgb.centers
    with pytest.raises(ValueError, match="stream 1"):
        fuse_streams([rgb, hand_made_output(batch=2)])
