"""Feature mimicking loss (W3 eq. 9)."""

import math

import pytest
import torch

from vidaction.losses.distill import feature_mimic_loss


def test_zero_for_identical_features_and_per_frame_l2_otherwise():
    student = torch.randn(2, 4, 3, 5, 5)
    assert feature_mimic_loss(student, student.clone()) == 0
    assert feature_mimic_loss(student, student.clone(), normalize=False) == 0
    teacher = torch.randn(2, 4, 3, 5, 5)
    expected = torch.stack([torch.linalg.vector_norm(student[n, :, t] - teacher[n, :, t])
                            for n in range(2) for t in range(3)]).mean()
    assert torch.allclose(feature_mimic_loss(student, teacher, normalize=False), expected)
    assert torch.allclose(feature_mimic_loss(student, teacher), expected / math.sqrt(4 * 5 * 5))


@pytest.mark.parametrize("channels, side", [(4, 2), (64, 7), (2048, 7)])
def test_normalised_loss_does_not_depend_on_the_map_size(channels, side):
    teacher = torch.randn(2, channels, 3, side, side)
    assert torch.allclose(feature_mimic_loss(teacher + 0.5, teacher), torch.tensor(0.5))
    literal = feature_mimic_loss(teacher + 0.5, teacher, normalize=False)
    assert torch.allclose(literal, torch.tensor(0.5 * math.sqrt(channels * side * side)))


def test_gradient_reaches_the_student_only():
    student = torch.randn(1, 2, 2, 3, 3, requires_grad=True)
    teacher = torch.randn(1, 2, 2, 3, 3, requires_grad=True)
    feature_mimic_loss(student, teacher).backward()
    assert student.grad.abs().sum() > 0 and teacher.grad is None


def test_shape_mismatch_is_named():
    with pytest.raises(ValueError, match="differ in shape"):
        feature_mimic_loss(torch.zeros(1, 2, 2, 3, 3), torch.zeros(1, 4, 2, 3, 3))
