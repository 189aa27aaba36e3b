"""Temporal soft-NMS and NMS against straightforward per-class loops."""

import math

import pytest
import torch

from vidaction.evaluation.nms import batched_nms, batched_soft_nms, nms, segment_iou, soft_nms


def iou(a, b):
    inter = max(0.0, min(a[1], b[1]) - max(a[0], b[0]))
    union = max(a[1] - a[0], 0.0) + max(b[1] - b[0], 0.0) - inter
    return inter / max(union, 1e-5)


def naive_soft_nms(segments, scores, sigma, top_k, threshold):
    """One class, one kept segment per pass, Python floats."""
    segs, live = segments.tolist(), {i: s for i, s in enumerate(scores.tolist()) if s >= threshold}
    kept = []
    while live and len(kept) < top_k:
        best = max(live, key=lambda i: (live[i], -i))  # ties: the earlier candidate
        kept.append((best, live.pop(best)))
        for i in list(live):
            live[i] *= math.exp(-iou(segs[best], segs[i]) ** 2 / sigma)
            if live[i] < threshold:
                del live[i]
    return kept


def naive_nms(segments, scores, threshold, top_k):
    segs = segments.tolist()
    order = sorted(range(len(segs)), key=lambda i: (-float(scores[i]), i))
    kept = []
    for i in order:
        if len(kept) < top_k and all(iou(segs[i], segs[j]) < threshold for j in kept):
            kept.append(i)
    return kept


def random_candidates(seed, count, classes=1):
    generator = torch.Generator().manual_seed(seed)
    starts = torch.rand(count, generator=generator, dtype=torch.float64) * 50
    segments = torch.stack([starts, starts + torch.rand(count, generator=generator, dtype=torch.float64) * 20], dim=1)
    scores = torch.rand(count, generator=generator, dtype=torch.float64)
    labels = torch.randint(0, classes, (count,), generator=generator)
    return segments, scores, labels


def test_segment_iou_by_hand():
    a = torch.tensor([[0.0, 10.0], [5.0, 5.0]])
    b = torch.tensor([[5.0, 15.0], [0.0, 10.0], [20.0, 30.0]])
    expected = torch.tensor([[5 / 15, 1.0, 0.0], [0.0, 0.0, 0.0]])
    assert torch.allclose(segment_iou(a, b), expected)


@pytest.mark.parametrize("seed, count, top_k, threshold", [(0, 40, 5000, 0.001), (1, 80, 7, 0.001), (2, 60, 5000, 0.3)])
def test_soft_nms_matches_a_naive_loop(seed, count, top_k, threshold):
    segments, scores, _ = random_candidates(seed, count)
    keep, kept_scores = soft_nms(segments, scores, sigma=0.5, top_k=top_k, score_threshold=threshold)
    expected = naive_soft_nms(segments, scores, 0.5, top_k, threshold)
    assert keep.tolist() == [i for i, _ in expected]
    assert torch.allclose(kept_scores, torch.tensor([s for _, s in expected], dtype=torch.float64))
    assert len(keep) <= top_k


def test_soft_nms_keeps_the_last_remaining_segment_and_breaks_ties_by_order():
    segments = torch.tensor([[0.0, 10.0], [0.0, 10.0], [50.0, 60.0]])
    keep, scores = soft_nms(segments, torch.tensor([0.9, 0.9, 0.5]), sigma=0.5)
    assert keep.tolist() == [0, 2, 1]
    assert torch.allclose(scores, torch.tensor([0.9, 0.5, 0.9 * math.exp(-1 / 0.5)]))


def test_batched_soft_nms_equals_each_class_alone():
    segments, scores, labels = random_candidates(3, 120, classes=4)
    keep, kept_scores = batched_soft_nms(segments, scores, labels, sigma=0.5, top_k=9)
    expected_keep, expected_scores = [], []
    for c in range(4):
        index = torch.nonzero(labels == c).flatten()
        for i, s in naive_soft_nms(segments[index], scores[index], 0.5, 9, 0.001):
            expected_keep.append(int(index[i]))
            expected_scores.append(s)
    assert keep.tolist() == expected_keep
    assert torch.allclose(kept_scores, torch.tensor(expected_scores, dtype=torch.float64))


@pytest.mark.parametrize("threshold, top_k", [(0.5, 5000), (0.2, 5000), (0.5, 4)])
def test_nms_matches_a_naive_loop(threshold, top_k):
    segments, scores, labels = random_candidates(4, 90, classes=3)
    assert nms(segments, scores, threshold, top_k).tolist() == naive_nms(segments, scores, threshold, top_k)
    expected = []
    for c in range(3):
        index = torch.nonzero(labels == c).flatten()
        expected += [int(index[i]) for i in naive_nms(segments[index], scores[index], threshold, top_k)]
    assert batched_nms(segments, scores, labels, threshold, top_k).tolist() == expected


def test_degenerate_inputs():
    keep, scores = soft_nms(torch.zeros(0, 2), torch.zeros(0))
    assert keep.numel() == 0 and scores.numel() == 0
    keep, scores = soft_nms(torch.tensor([[3.0, 3.0], [3.0, 3.0]]), torch.tensor([0.5, 0.4]))
    assert keep.tolist() == [0, 1] and torch.isfinite(scores).all()
    keep, _ = soft_nms(torch.tensor([[0.0, 1.0]]), torch.tensor([0.0005]))
    assert keep.numel() == 0
    with pytest.raises(ValueError, match="must be \\(N, 2\\), \\(N,\\), \\(N,\\)"):
        soft_nms(torch.zeros(3, 2), torch.zeros(2))
    with pytest.raises(ValueError, match="sigma"):
        soft_nms(torch.zeros(1, 2), torch.ones(1), sigma=0.0)
