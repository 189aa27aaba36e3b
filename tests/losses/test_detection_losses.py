"""AFSD losses: focal and IoU terms, target assignment by hand, perfect predictions, boundary terms."""

import math

import pytest
import torch

from vidaction.losses.detection import (
    assign_locations,
    assign_targets,
    afsd_loss,
    boundary_activation_targets,
    boundary_contrastive_loss,
    distance_giou_loss,
    distance_iou,
    level_ranges,
    refinement_targets,
    softmax_focal_loss,
)
from vidaction.models.heads.afsd import AFSDOutput

# Two levels on an 8-step window: strides 2 and 4, centres 1, 3, 5, 7 | 2, 6.
SIZES, STRIDES = (4, 2), (2, 4)
CENTERS = torch.tensor([1.0, 3.0, 5.0, 7.0, 2.0, 6.0])
STRIDE_OF = torch.tensor([2.0] * 4 + [4.0] * 2)


def make_output(batch=1, num_classes=3, steps=8, **fields):
    locations = len(CENTERS)
    base = dict(
        cls_logits=torch.zeros(batch, locations, num_classes + 1), distances=torch.ones(batch, locations, 2),
        refined_offsets=torch.zeros(batch, locations, 2), refined_logits=torch.zeros(batch, locations, num_classes + 1),
        quality_logits=torch.zeros(batch, locations), centers=CENTERS, strides=STRIDE_OF,
        mask=torch.ones(batch, locations, dtype=torch.bool), frame_mask=torch.ones(batch, steps, dtype=torch.bool),
        frame_features=torch.zeros(batch, 4, steps), loc_boundary=torch.zeros(batch, 4, 4),
        conf_boundary=torch.zeros(batch, 4, 4), level_sizes=SIZES)
    base.update(fields)
    return AFSDOutput(**base)


def test_softmax_focal_loss_matches_its_formula():
    torch.manual_seed(0)
    logits, labels = torch.randn(6, 4), torch.tensor([0, 1, 2, 3, 0, 2])
    p = logits.softmax(-1)[torch.arange(6), labels]
    alpha = torch.where(labels == 0, 0.25, 0.75)
    assert torch.allclose(softmax_focal_loss(logits, labels), -alpha * (1 - p) ** 2 * p.log())
    confident = torch.full((3, 4), -60.0)
    confident[torch.arange(3), torch.tensor([0, 2, 3])] = 60.0
    assert torch.all(softmax_focal_loss(confident, torch.tensor([0, 2, 3])) == 0)


def test_distance_iou_and_giou_by_hand():
    pred, target = torch.tensor([[2.0, 2.0]]), torch.tensor([[1.0, 3.0]])
    # inter 1 + 2 = 3, union 4 + 4 - 3 = 5; segments sharing a centre always overlap, so GIoU = IoU.
    assert torch.allclose(distance_iou(pred, target), torch.tensor([0.6]))
    assert torch.allclose(distance_giou_loss(pred, target), torch.tensor([0.4]))
    assert torch.all(distance_giou_loss(target, target) == 0)


def test_assignment_on_a_hand_made_case():
    # A = [0, 4] (class 2) and B = [2.5, 8] (class 0) overlap around centre 3, where the shorter A wins.
    targets = [(torch.tensor([[0.0, 4.0], [2.5, 8.0]]), torch.tensor([2, 0]))]
    assigned = assign_locations(CENTERS, torch.ones(1, 6, dtype=torch.bool), targets, num_classes=3)
    assert assigned.labels.tolist() == [[3, 3, 1, 1, 3, 1]]
    assert assigned.gt_index.tolist() == [[0, 0, 1, 1, 0, 1]]
    assert assigned.distances[0].tolist() == [[1, 3], [3, 1], [2.5, 3], [4.5, 1], [2, 2], [3.5, 2]]


def test_assignment_boundaries_ties_masks_and_empty_windows():
    mask = torch.ones(2, 6, dtype=torch.bool)
    mask[1, 3] = False
    targets = [
        (torch.tensor([[5.0, 7.0], [5.0, 7.0]]), torch.tensor([1, 2])),  # centres on both ends; a tie goes to the first
        (torch.tensor([[4.0, 8.0]]), torch.tensor([0])),
    ]
    assigned = assign_locations(CENTERS, mask, targets, num_classes=3)
    assert assigned.labels.tolist() == [[0, 0, 2, 2, 0, 2], [0, 0, 1, 0, 0, 1]]
    assert assigned.gt_index[0].tolist() == [-1, -1, 0, 0, -1, 0]
    assert assigned.distances[0, 2].tolist() == [0.0, 2.0] and assigned.distances[0, 3].tolist() == [2.0, 0.0]
    empty = assign_locations(CENTERS, mask[:1], [(torch.zeros(0, 2), torch.zeros(0, dtype=torch.long))], 3)
    assert empty.labels.sum() == 0 and empty.distances.abs().sum() == 0


def test_level_ranges_keep_a_truth_where_its_reach_fits():
    # ActivityNet-style bounds low < max(left, right) <= high: level 0 (0, 2], level 1 (2, inf).
    ranges = level_ranges(SIZES, [(0.0, 2.0), (2.0, math.inf)], CENTERS.device)
    targets = [(torch.tensor([[0.0, 4.0]]), torch.tensor([1]))]
    assigned = assign_locations(CENTERS, torch.ones(1, 6, dtype=torch.bool), targets, 3, ranges)
    # Centre 1 reaches 3 > 2 and centre 3 reaches 3: both left to level 1; centre 2 reaches 2, not > 2.
    assert assigned.labels.tolist() == [[0, 0, 0, 0, 0, 0]]
    wide_target = [(torch.tensor([[0.0, 5.0]]), torch.tensor([1]))]
    wide = assign_locations(CENTERS, torch.ones(1, 6, dtype=torch.bool), wide_target, 3, ranges)
    assert wide.labels.tolist() == [[0, 0, 0, 0, 2, 0]]


def test_refinement_targets_gate_by_piou_and_normalise_offsets():
    targets = [(torch.tensor([[0.0, 4.0]]), torch.tensor([1]))]
    locations = assign_locations(CENTERS, torch.ones(1, 6, dtype=torch.bool), targets, 3)
    coarse = torch.ones(1, 6, 2)
    coarse[0, 0] = torch.tensor([1.0, 2.0])  # target (1, 3): IoU 3/4, offsets (0, 1) / 1.5
    coarse[0, 1] = torch.tensor([0.5, 0.5])  # target (3, 1): IoU 1/4
    refined = refinement_targets(coarse, locations, piou=0.5)
    assert refined.positive.tolist() == [[True, False, False, False, True, False]]
    assert refined.labels.tolist() == [[2, 0, 0, 0, 2, 0]]
    assert torch.allclose(refined.offsets[0, 0], torch.tensor([0.0, 1.0 / 1.5]))
    assert torch.allclose(refined.offsets[0, 4], torch.tensor([1.0, 1.0]))  # target (2, 2) from (1, 1)
    assert refinement_targets(coarse, locations, piou=0.0).positive.sum() == 3


def test_boundary_activation_targets_by_hand():
    start, end = boundary_activation_targets([(torch.tensor([[10.0, 30.0], [0.0, 100.0]]), torch.tensor([0, 1]))], 64,
                                             torch.device("cpu"))
    # [10, 30]: d = max(2, 2) = 2 -> 9..11 and 29..31; [0, 100]: d = 10 -> 0..5 and round(95) clipped to 63.
    assert torch.nonzero(start[0]).flatten().tolist() == [0, 1, 2, 3, 4, 5, 9, 10, 11]
    assert torch.nonzero(end[0]).flatten().tolist() == [29, 30, 31, 63]


def perfect_output_and_targets():
    targets = [(torch.tensor([[0.0, 4.0], [4.5, 6.5]]), torch.tensor([2, 0]))]  # centre 7 is background
    output = make_output()
    assigned = assign_locations(output.centers, output.mask, targets, 3)
    logits = torch.nn.functional.one_hot(assigned.labels, 4).float() * 100.0 - 50.0
    distances = torch.where(assigned.positive.unsqueeze(-1), assigned.distances, torch.ones(1, 6, 2))
    start, end = boundary_activation_targets(targets, 8, torch.device("cpu"))
    big = 30.0  # tanh(30) == 1 in float32
    frame = torch.cat([start.unsqueeze(1).expand(1, 2, 8), end.unsqueeze(1).expand(1, 2, 8)], dim=1) * big
    level = torch.cat([start[:, ::2].unsqueeze(1).expand(1, 2, 4),
                       end[:, ::2].unsqueeze(1).expand(1, 2, 4)], dim=1) * big
    output = output._replace(cls_logits=logits, refined_logits=logits, distances=distances,
                             quality_logits=torch.full((1, 6), 100.0), frame_features=frame, loc_boundary=level,
                             conf_boundary=level)
    return output, targets


def test_a_perfect_prediction_has_zero_loss():
    output, targets = perfect_output_and_targets()
    total, terms = afsd_loss(output, targets)
    assert set(terms) == {"loc", "cls", "refined_loc", "refined_cls", "quality", "start", "end"}
    for name, value in terms.items():
        assert float(value) < 1e-6, name
    assert terms["loc"] == 0 and terms["refined_loc"] == 0 and terms["cls"] == 0
    assert float(total) < 1e-5


def test_total_is_the_weighted_sum_and_gradients_flow():
    torch.manual_seed(0)
    output = make_output(batch=2, cls_logits=torch.randn(2, 6, 4, requires_grad=True),
                         distances=torch.rand(2, 6, 2).add(0.5).requires_grad_(),
                         refined_offsets=torch.randn(2, 6, 2, requires_grad=True),
                         refined_logits=torch.randn(2, 6, 4, requires_grad=True),
                         quality_logits=torch.randn(2, 6, requires_grad=True),
                         frame_features=torch.rand(2, 4, 8, requires_grad=True))
    targets = [(torch.tensor([[0.0, 4.0]]), torch.tensor([1])), (torch.tensor([[2.0, 8.0]]), torch.tensor([0]))]
    total, terms = afsd_loss(output, targets, piou=0.0)
    expected = (10 * (terms["loc"] + terms["refined_loc"]) + terms["cls"] + terms["refined_cls"] + terms["quality"]
                + terms["start"] + terms["end"])
    assert torch.allclose(total, expected)
    total.backward()
    for name in ("cls_logits", "distances", "refined_offsets", "refined_logits", "quality_logits", "frame_features"):
        assert getattr(output, name).grad.abs().sum() > 0, name


def test_padded_locations_and_steps_enter_no_term():
    output, targets = perfect_output_and_targets()
    mask = output.mask.clone()
    mask[0, 3] = False
    frame_mask = output.frame_mask.clone()
    frame_mask[0, 7] = False
    wrong_logits = output.cls_logits.clone()
    wrong_logits[0, 3] = torch.tensor([-50.0, -50, -50, 50])
    wrong_frames = output.frame_features.clone()
    wrong_frames[0, :, 7] = 30.0 - wrong_frames[0, :, 7]
    corrupted = output._replace(mask=mask, frame_mask=frame_mask, cls_logits=wrong_logits, frame_features=wrong_frames)
    _, terms = afsd_loss(corrupted, targets)
    assert all(float(v) < 1e-6 for v in terms.values())


def test_assign_targets_bundles_locations_refinement_and_boundaries():
    output, targets = perfect_output_and_targets()
    assigned = assign_targets(output, targets)
    assert assigned.locations.labels.tolist() == [[3, 3, 1, 0, 3, 1]]
    assert torch.equal(assigned.refinement.positive, assigned.locations.positive)
    assert assigned.start.shape == assigned.end.shape == (1, 8)


def test_boundary_contrastive_loss_by_hand():
    steps = 64
    frame = torch.zeros(1, 4, steps)
    # Proposals [10, 20], [30, 40], [50, 60]: l = 11, inner 2.75, outer 1.1 -> start [s-1, s+3], end [e-3, e+1].
    frame[0, 2:, 17:22] = 1.0  # end features around proposal 0's end: anchor (1, 1)
    frame[0, :2, 29:34] = 3.0  # start features around proposal 1's start: positive (3, 3)
    frame[0, :2, 49:54] = 1.5  # start features around proposal 2's start: negative (1.5, 1.5)
    centers = torch.arange(16.0) * 4 + 2
    output = make_output(steps=steps, frame_features=frame, centers=centers, strides=torch.full((16,), 4.0),
                         mask=torch.ones(1, 16, dtype=torch.bool), loc_boundary=torch.zeros(1, 4, 16),
                         conf_boundary=torch.zeros(1, 4, 16), level_sizes=(16,))
    proposals = torch.tensor([[[10.0, 20.0], [30.0, 40.0], [50.0, 60.0]]])
    frame_term = max(2 * math.sqrt(2) - 0.5 * math.sqrt(2) + 1.0, 0.0)
    expected = 0.1 * (frame_term + 0.1 * 1.0 + 0.1 * 1.0)  # the all-zero level maps cost the margin
    assert boundary_contrastive_loss(output, proposals).item() == pytest.approx(expected, rel=1e-4)


def test_bad_targets_name_the_window():
    output = make_output(batch=2)
    good = (torch.tensor([[0.0, 4.0]]), torch.tensor([1]))
    with pytest.raises(ValueError, match=r"targets\[1\]: labels must be integers in \[0, 3\)"):
        afsd_loss(output, [good, (torch.tensor([[0.0, 4.0]]), torch.tensor([3]))])
    with pytest.raises(ValueError, match=r"targets\[0\]: segments must be finite with end >= start"):
        afsd_loss(output, [(torch.tensor([[5.0, 4.0]]), torch.tensor([1])), good])
    with pytest.raises(ValueError, match=r"targets\[1\]: segments \(2,\) must be \(K, 2\)"):
        afsd_loss(output, [good, (torch.tensor([0.0, 4.0]), torch.tensor([1]))])
    with pytest.raises(ValueError, match="got 1 targets for a batch of 2"):
        afsd_loss(output, [good])
