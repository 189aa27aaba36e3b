"""HCML's motion predictor f_delta (Sec. 3.2)."""

import pytest
import torch
import torch.nn.functional as F

from vidaction.models.motion.predictor import MotionPredictor


def test_shapes_and_ground_truth_keeps_the_lower_levels_time_steps():
    torch.manual_seed(0)
    predictor = MotionPredictor(8, 4, 16, 4, steps=7, temporal_stride=2)
    current = torch.randn(2, 8, 4, 7, 7)
    previous = torch.randn(2, 4, 8, 14, 14)
    predictions, targets, temporal_stride = predictor(current, previous)
    assert predictions.shape == (2, 7, 4, 4, 7, 7) and temporal_stride == 2
    # Only space is pooled: the ground truth is the lower level's whole 8-step sequence (Sec. 3.2).
    assert torch.allclose(targets, F.avg_pool3d(previous, (1, 2, 2)), atol=1e-6)
    assert torch.isfinite(predictions).all()


def test_equal_grids_are_left_unpooled():
    predictor = MotionPredictor(3, 2, 5, 2, steps=1)
    previous = torch.randn(1, 2, 3, 4, 4)
    assert torch.equal(predictor(torch.randn(1, 3, 3, 4, 4), previous).targets, previous)


def test_each_step_is_the_shared_hidden_layer_then_its_own_output_slice_on_the_start_step():
    torch.manual_seed(0)
    predictor = MotionPredictor(3, 2, 5, 2, steps=3, temporal_stride=2)
    current = torch.randn(1, 3, 3, 2, 2)
    previous = torch.randn(1, 2, 6, 2, 2)
    predictions, targets, _ = predictor(current, previous)
    first, _, second = predictor.mlp
    # Start t = 1 of the current level is the lower level's step 2: f_delta([P^l_1, P^{l-1}_2]).
    features = torch.cat([current[0, :, 1, 0, 1], targets[0, :, 2, 0, 1]])
    hidden = torch.relu(first.weight.flatten(1) @ features + first.bias)
    for delta in (1, 2, 3):
        rows = slice((delta - 1) * 2, delta * 2)
        expected = second.weight.flatten(1)[rows] @ hidden + second.bias[rows]
        assert torch.allclose(predictions[0, delta - 1, :, 1, 0, 1], expected, atol=1e-6)


def test_predictions_from_a_start_see_the_lower_level_only_at_that_start():
    torch.manual_seed(0)
    predictor = MotionPredictor(3, 2, 5, 2, steps=2, temporal_stride=2)
    current = torch.randn(1, 3, 3, 2, 2)
    previous = torch.randn(1, 2, 5, 2, 2)
    reference = predictor(current, previous).predictions
    for step, changed_start in ((2, 1), (3, None)):
        perturbed = previous.clone()
        perturbed[:, :, step] += 1.0
        changed = (predictor(current, perturbed).predictions - reference).abs().sum(dim=(0, 1, 2, 4, 5))
        assert [bool(c > 0) for c in changed] == [t == changed_start for t in range(3)], step


def test_predictions_at_a_position_depend_only_on_that_position():
    torch.manual_seed(0)
    predictor = MotionPredictor(3, 2, 5, 2, steps=2)
    current = torch.randn(1, 3, 3, 4, 4)
    previous = torch.randn(1, 2, 3, 4, 4)
    perturbed = current.clone()
    perturbed[0, :, 1, 2, 3] += 1.0
    difference = predictor(current, previous).predictions - predictor(perturbed, previous).predictions
    changed = difference.abs().sum(dim=(0, 1, 2))
    assert changed[1, 2, 3] > 0
    changed[1, 2, 3] = 0
    assert torch.all(changed == 0)


def test_every_parameter_gets_a_gradient():
    predictor = MotionPredictor(4, 3, 6, 3, steps=2, temporal_stride=2)
    predictions, _, _ = predictor(torch.randn(2, 4, 3, 2, 2), torch.randn(2, 3, 6, 4, 4))
    predictions.square().sum().backward()
    for name, parameter in predictor.named_parameters():
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name


def test_out_channels_must_be_the_previous_levels():
    with pytest.raises(ValueError, match="out_channels"):
        MotionPredictor(4, 3, 6, 5, steps=1)
    with pytest.raises(ValueError, match="positive"):
        MotionPredictor(4, 3, 6, 3, steps=0)
    with pytest.raises(ValueError, match="positive"):
        MotionPredictor(4, 3, 6, 3, steps=1, temporal_stride=0)


@pytest.mark.parametrize("current_shape, previous_shape", [
    ((2, 4, 3, 2, 2), (2, 3, 3, 2)),
    ((2, 5, 3, 2, 2), (2, 3, 3, 2, 2)),
    ((2, 4, 3, 2, 2), (2, 2, 3, 2, 2)),
    ((2, 4, 3, 2, 2), (1, 3, 3, 2, 2)),
    ((2, 4, 3, 4, 4), (2, 3, 3, 2, 2)),
    ((2, 4, 3, 2, 2), (2, 3, 4, 2, 2)),
    ((2, 4, 3, 2, 2), (2, 3, 2, 2, 2)),
])
def test_mismatched_inputs_name_the_shapes(current_shape, previous_shape):
    predictor = MotionPredictor(4, 3, 6, 3, steps=1)
    with pytest.raises(ValueError) as error:
        predictor(torch.randn(current_shape), torch.randn(previous_shape))
    assert str(current_shape) in str(error.value) and str(previous_shape) in str(error.value)
