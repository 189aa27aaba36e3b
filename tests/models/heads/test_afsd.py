"""AFSD detector head: pyramid geometry, masks, distances, boundary regions, gradients."""

import pytest
import torch

from vidaction.losses.detection import afsd_loss, boundary_contrastive_loss
from vidaction.models.heads.afsd import AFSDHead, InputSpec
from vidaction.models.heads.afsd_refinement import boundary_regions, refinement_regions
from vidaction.models.heads.masked_conv1d import same_padding

TINY = dict(channels=32, proposal_channels=16, frame_channels=32, norm_groups=8)


def frame_mode_head(num_levels=4, **kw):
    return AFSDHead((24, 40), num_classes=3, in_strides=(4, 8), in_spatial=((3, 3), (2, 2)), num_levels=num_levels,
                    **{**TINY, **kw})


def frame_mode_inputs(batch=2, steps=64):
    torch.manual_seed(0)
    return [torch.randn(batch, 24, steps // 4, 3, 3), torch.randn(batch, 40, steps // 8, 2, 2)]


def test_frame_mode_shapes_strides_and_centres():
    head = frame_mode_head()
    mask = torch.ones(2, 64, dtype=torch.bool)
    out = head(frame_mode_inputs(), mask)
    assert out.level_sizes == (16, 8, 4, 2)
    assert head.strides == (4, 8, 16, 32)
    locations = 30
    assert out.cls_logits.shape == out.refined_logits.shape == (2, locations, 4)
    assert out.distances.shape == out.refined_offsets.shape == (2, locations, 2)
    assert out.quality_logits.shape == out.mask.shape == (2, locations)
    assert out.frame_features.shape == (2, 32, 64)
    assert out.loc_boundary.shape == out.conf_boundary.shape == (2, 32, 16)
    assert torch.equal(out.strides, torch.tensor([4.0] * 16 + [8.0] * 8 + [16.0] * 4 + [32.0] * 2))
    assert torch.equal(out.centers[:3], torch.tensor([2.0, 6.0, 10.0]))
    assert torch.equal(out.centers[16:18], torch.tensor([4.0, 12.0]))
    assert torch.equal(out.centers[-2:], torch.tensor([16.0, 48.0]))
    assert bool((out.distances > 0).all())


def test_input_spec_is_what_the_projections_take():
    head = AFSDHead((24, 40, 8), num_classes=3, in_strides=(2, 4, 8), in_spatial=((3, 3), (2, 2), None),
                    num_levels=4, **TINY)
    assert head.input_spec == [InputSpec(24, 2, (3, 3)), InputSpec(40, 4, (2, 2)), InputSpec(8, 8, None)]
    for spec, projection in zip(head.input_spec, head.pyramid.projections):
        assert projection.conv.in_channels == spec.channels
        assert tuple(projection.conv.kernel_size[1:]) == (spec.spatial or ())
    mask = torch.ones(2, 32, dtype=torch.bool)
    maps = [torch.randn(2, spec.channels, -(-32 // spec.stride), *(spec.spatial or ())) for spec in head.input_spec]
    assert head(maps, mask).level_sizes == (16, 8, 4, 2)


def test_feature_mode_is_the_same_code_at_stride_one():
    torch.manual_seed(0)
    head = AFSDHead((20,), num_classes=2, in_strides=(1,), in_spatial=None, num_levels=4, **TINY)
    out = head([torch.randn(2, 20, 64)], torch.ones(2, 64, dtype=torch.bool))
    assert out.level_sizes == (64, 32, 16, 8)
    assert out.cls_logits.shape == (2, 120, 3)
    assert out.frame_features.shape == (2, 32, 64) and out.loc_boundary.shape == (2, 32, 64)
    assert torch.equal(out.centers[:2], torch.tensor([0.5, 1.5]))


def test_masks_follow_every_stride_and_padding_is_zeroed():
    head = frame_mode_head()
    mask = torch.ones(2, 64, dtype=torch.bool)
    mask[1, 37:] = False
    out = head(frame_mode_inputs(), mask)
    expected = torch.cat([mask[:, ::s] for s in (4, 8, 16, 32)], dim=1)
    assert torch.equal(out.mask, expected)
    assert torch.equal(out.frame_mask, mask)
    assert out.mask[1].sum() == 10 + 5 + 3 + 2
    assert torch.all(out.frame_features[1, :, 37:] == 0) and out.frame_features[1, :, :37].abs().sum() > 0
    assert torch.all(out.loc_boundary[1, :, 10:] == 0) and torch.all(out.conf_boundary[1, :, 10:] == 0)


def test_distances_are_exp_of_the_per_level_scale_times_the_head_output():
    head = frame_mode_head(num_levels=3)
    with torch.no_grad():
        head.loc_head.weight.zero_()
        head.loc_head.bias.copy_(torch.tensor([0.5, -0.25]))
        head.distance_scales.copy_(torch.tensor([1.0, 2.0, 4.0]))
    out = head(frame_mode_inputs(), torch.ones(2, 64, dtype=torch.bool))
    per_level = torch.tensor([[0.5, -0.25], [1.0, -0.5], [2.0, -1.0]]).exp()
    expected = per_level.repeat_interleave(torch.tensor([16, 8, 4]), dim=0)
    assert torch.allclose(out.distances, expected.expand(2, -1, -1))
    head.distance_multipliers = (2.0, 4.0, 8.0)
    scaled = head(frame_mode_inputs(), torch.ones(2, 64, dtype=torch.bool)).distances
    assert torch.allclose(scaled, out.distances * (out.strides / 2).view(1, -1, 1))
    with pytest.raises(ValueError, match="one distance multiplier per level"):
        frame_mode_head(num_levels=3, distance_multipliers=(1.0, 2.0))


def test_boundary_regions_follow_afsd():
    start, end = boundary_regions(torch.tensor([3.0, 10.0]), torch.tensor([8.0, 50.0]))
    # l = 5: inner 1.25, outer 1 (floor); l = 40: inner 10, outer 4.
    assert start.tolist() == [[2.0, 4.0], [6.0, 20.0]]
    assert end.tolist() == [[7.0, 9.0], [40.0, 54.0]]
    regions = refinement_regions(torch.tensor([[[0.0] * 5 + [8.0]], [[0.0] * 5 + [12.0]]]).view(1, 2, 6), stride=4)
    # Location 5: level segment [5 - 2, 5 + 3]; frame segment around (5 + 0.5) * 4 = 22: [14, 34], l = 21.
    assert regions.level_start[0, 5].tolist() == [2.0, 4.0] and regions.level_end[0, 5].tolist() == [7.0, 9.0]
    assert regions.frame_start[0, 5].tolist() == [12.0, 19.0] and regions.frame_end[0, 5].tolist() == [29.0, 36.0]


def test_same_padding_is_tensorflow_style():
    assert same_padding(64, 3, 2) == (0, 1)
    assert same_padding(9, 3, 2) == (1, 1)
    assert same_padding(10, 3, 1) == (1, 1)
    assert same_padding(10, 1, 1) == (0, 0)


def test_every_parameter_gets_a_gradient():
    head = frame_mode_head()
    mask = torch.ones(2, 64, dtype=torch.bool)
    mask[1, 50:] = False
    out = head(frame_mode_inputs(), mask)
    targets = [(torch.tensor([[3.0, 60.0], [10.0, 20.0]]), torch.tensor([0, 2])),
               (torch.tensor([[1.0, 49.0]]), torch.tensor([1]))]
    total, _ = afsd_loss(out, targets, piou=0.0)
    proposals = torch.tensor([[[5.0, 20.0], [30.0, 45.0], [21.0, 29.0]]] * 2)
    (total + boundary_contrastive_loss(out, proposals)).backward()
    for name, parameter in head.named_parameters():
        assert parameter.grad is not None and torch.isfinite(parameter.grad).all(), name
        assert parameter.grad.abs().sum() > 0, name


def test_full_size_head_has_afsd_parameter_count():
    # AFSD's CoarsePyramid([832, 1024]) with 21 outputs has 32,458,805 parameters (counted on the reference).
    head = AFSDHead((832, 1024), num_classes=20)
    assert sum(p.numel() for p in head.parameters()) == 32_458_805
    assert head.strides == (4, 8, 16, 32, 64, 128)


def test_bad_inputs_name_the_problem():
    head = frame_mode_head()
    mask = torch.ones(2, 64, dtype=torch.bool)
    inputs = frame_mode_inputs()
    with pytest.raises(ValueError, match=r"features\[1\].*ceil\(T / 8\) = 8"):
        head([inputs[0], inputs[1][:, :, :7]], mask)
    with pytest.raises(ValueError, match=r"features\[0\] has spatial size \(4, 4\)"):
        head([torch.randn(2, 24, 16, 4, 4), inputs[1]], mask)
    holey = mask.clone()
    holey[0, 10] = False
    with pytest.raises(ValueError, match="prefix"):
        head(inputs, holey)
    with pytest.raises(ValueError, match="expected 2 feature maps"):
        head(inputs[:1], mask)
    with pytest.raises(ValueError, match="increasing"):
        AFSDHead((24, 40), 3, in_strides=(8, 4), **TINY)
    with pytest.raises(ValueError, match="divisible"):
        AFSDHead((24, 40), 3, channels=30, norm_groups=8)


def test_coarse_classification_equals_the_full_forward():
    from vidaction.models.heads.afsd import AFSDHead

    torch.manual_seed(0)
    head = AFSDHead([16], 3, in_strides=(1,), in_spatial=None, num_levels=3, channels=16, proposal_channels=8,
                    frame_channels=8, norm_groups=4).eval()
    x, mask = torch.randn(2, 16, 24), torch.ones(2, 24, dtype=torch.bool)
    mask[1, 17:] = False
    full, coarse = head([x], mask), head.coarse_classification([x], mask)
    assert torch.equal(coarse.mask, full.mask)
    assert torch.allclose(coarse.cls_logits, full.cls_logits, atol=1e-6)
