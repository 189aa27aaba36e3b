"""The shared video ResNet core: one stage builder and one block per kind make TSN/TSM, I3D, R2D and
R(2+1)D; conv types, attention placement and strides."""

import pytest
import torch
from torch import nn

from vidaction.models import create_model
from vidaction.models.attention import NonLocalBlock, W3Attention
from vidaction.models.backbones.r2plus1d import state_dict_from_2d
from vidaction.models.backbones.resnet3d import inflate_2d_state_dict
from vidaction.models.backbones.video_resnet import (BasicBlock, Bottleneck, NonLocalWrapper, VideoResNet,
                                                     make_stage)
from vidaction.models.layers.video_conv import FACTORISED, FRAME, INFLATED, SPATIAL


@pytest.mark.parametrize("name, block, conv1, temporal", [
    ("tsm_tiny", BasicBlock, (3, 3), None), ("tsn_r50", Bottleneck, (1, 1), None),
    ("i3d_tiny", Bottleneck, (3, 1, 1), None), ("r2d_tiny", Bottleneck, (1, 1, 1), None),
    ("r2plus1d_tiny", Bottleneck, (1, 1, 1), (3, 1, 1))])
def test_every_family_is_the_shared_core(name, block, conv1, temporal):
    with torch.device("meta"):
        model = create_model(name, num_classes=2, num_frames=8)
    assert isinstance(model, VideoResNet)
    assert all(type(layer) is block for stage in (model.layer1, model.layer2, model.layer3) for layer in stage)
    assert model.layer1[0].conv1.kernel_size == conv1
    temporal_conv = getattr(model.layer4[0], "temporal_conv", None)
    assert (temporal_conv.kernel_size if temporal_conv is not None else None) == temporal


def test_frame_convs_have_no_time_axis():
    conv = FRAME.conv(4, 8, (1, 3, 3), (1, 2, 2), (0, 1, 1))
    assert isinstance(conv, nn.Conv2d) and conv.kernel_size == (3, 3) and conv.stride == (2, 2)
    with pytest.raises(ValueError, match="no time axis"):
        FRAME.conv(4, 8, (3, 1, 1))
    assert INFLATED.conv(4, 8, (INFLATED.first_t, 1, 1)).kernel_size == (3, 1, 1)


def test_frame_stage_equals_spatial_stage_frame_by_frame():
    torch.manual_seed(0)
    frames = make_stage(Bottleneck, 8, 2, [FRAME] * 2, stride=2).eval()
    clip = make_stage(Bottleneck, 8, 2, [SPATIAL] * 2, stride=2).eval()
    clip.load_state_dict({k: v.unsqueeze(2) if v.dim() == 4 else v for k, v in frames.state_dict().items()})
    x = torch.randn(2, 8, 3, 8, 8)
    with torch.no_grad():
        by_frame = frames(x.transpose(1, 2).flatten(0, 1)).unflatten(0, (2, 3)).transpose(1, 2)
        assert torch.allclose(clip(x), by_frame, atol=1e-6)


def test_make_stage_places_attention_and_strides():
    torch.manual_seed(0)
    stage = make_stage(Bottleneck, 16, 4, [FACTORISED] * 3, stride=2, temporal_stride=2, name="layer2",
                       attention="nonlocal", nonlocal_offset=1)
    assert [type(layer) for layer in stage] == [Bottleneck, NonLocalWrapper, Bottleneck]
    assert isinstance(stage[1].nl, NonLocalBlock) and stage[0].temporal_conv.stride == (2, 1, 1)
    assert stage(torch.randn(1, 16, 4, 8, 8)).shape == (1, 16, 2, 4, 4)
    attended = make_stage(Bottleneck, 16, 4, [SPATIAL] * 2, attention="w3", attention_args={"reduction": 4})
    assert all(isinstance(layer.attention, W3Attention) for layer in attended)
    with pytest.raises(ValueError, match=r"at layer3\.0"):
        make_stage(Bottleneck, 16, 4, [SPATIAL], name="layer3", attention="cbam", attention_args={"options": {"k": 1}})


def test_one_2d_to_3d_weight_conversion():
    assert state_dict_from_2d is inflate_2d_state_dict
