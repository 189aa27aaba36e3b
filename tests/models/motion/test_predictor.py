"""HCML's motion predictor f_delta (Sec. 3.2)."""

import pytest
import torch
import torch.nn.functional as F

from vidaction.models.motion.predictor import MotionPredictor


def test_shapes_and_pooled_targets():
    torch.manual_seed(0)
    predictor = MotionPredictor(8, 4, 16, 4, steps=3)
    current = torch.randn(2, 8, 4, 7, 7)
    previous = torch.randn(2, 4, 8, 14, 14)
    predictions, targets = predictor(current, previous)
    assert predictions.shape == (2, 3, 4, 4, 7, 7)
    assert torch.allclose(targets, F.avg_pool3d(previous, (2, 2, 2)), atol=1e-6)
    assert torch.isfinite(predictions).all()


def test_equal_grids_are_left_unpooled():
    predictor = MotionPredictor(3, 2, 5, 2, steps=1)
    previous = torch.randn(1, 2, 3, 4, 4)
    assert torch.equal(predictor(torch.randn(1, 3, 3, 4, 4), previous).targets, previous)


def test_each_step_is_the_shared_hidden_layer_then_its_own_output_slice():
    torch.manual_seed(0)
    predictor = MotionPredictor(3, 2, 5, 2, steps=2)
    current = torch.randn(1, 3, 3, 2, 2)
    previous = torch.randn(1, 2, 3, 2, 2)
    predictions, targets = predictor(current, previous)
    first, _, second = predictor.mlp
    features = torch.cat([current, targets], dim=1)[0, :, 1, 0, 1]
    hidden = torch.relu(first.weight.flatten(1) @ features + first.bias)
    for delta in (1, 2):
        rows = slice((delta - 1) * 2, delta * 2)
        expected = second.weight.flatten(1)[rows] @ hidden + second.bias[rows]
        assert torch.allclose(predictions[0, delta - 1, :, 1, 0, 1], expected, atol=1e-6)


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
    predictor = MotionPredictor(4, 3, 6, 3, steps=2)
    predictions, _ = predictor(torch.randn(2, 4, 3, 2, 2), torch.randn(2, 3, 6, 4, 4))
    predictions.square().sum().backward()
    for name, parameter in predictor.named_parameters():
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name


def test_out_channels_must_be_the_previous_levels():
    with pytest.raises(ValueError, match="out_channels"):
        MotionPredictor(4, 3, 6, 5, steps=1)
    with pytest.raises(ValueError, match="positive"):
        MotionPredictor(4, 3, 6, 3, steps=0)


@pytest.mark.parametrize("current_shape, previous_shape", [
    ((2, 4, 3, 2, 2), (2, 3, 3, 2)),
    ((2, 5, 3, 2, 2), (2, 3, 3, 2, 2)),
    ((2, 4, 3, 2, 2), (2, 2, 3, 2, 2)),
    ((2, 4, 3, 2, 2), (1, 3, 3, 2, 2)),
    ((2, 4, 3, 4, 4), (2, 3, 3, 2, 2)),
])
def test_mismatched_inputs_name_the_shapes(current_shape, previous_shape):
    predictor = MotionPredictor(4, 3, 6, 3, steps=1)
    with pytest.raises(ValueError) as error:
        predictor(torch.randn(current_shape), torch.randn(previous_shape))
    assert str(current_shape) in str(error.value) and str(previous_shape) in str(error.value)
