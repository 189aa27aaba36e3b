"""The registered detector ``afsd``: the same network as ``afsd_detector`` on a backbone built by name,
in frame and feature mode, with and without GAF."""

import json

import pytest
import torch

from vidaction.models import create_model, create_model_from_arch
from vidaction.models.detector import afsd_detector
from vidaction.models.generative.gaf import GenerativeAttention

HEAD = dict(channels=16, proposal_channels=16, frame_channels=16, num_levels=3, norm_groups=4)
GAF = {"attention_channels": 8, "norm_groups": 2, "cvae_channels": 4, "cvae_hidden": 16, "latent_size": 6}


def assert_same_state(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    assert list(sa) == list(sb) and all(torch.equal(sa[key], sb[key]) for key in sa)


@pytest.mark.parametrize("attention", [{}, {"attention": "gaf", "attention_options": {"use_cvae": False, **GAF}}])
def test_feature_mode_equals_afsd_detector(attention):
    torch.manual_seed(0)
    built = create_model("afsd", 4, input_channels=16, feature_spatial=(2, 2), **HEAD, **attention)
    torch.manual_seed(0)
    assert_same_state(built, afsd_detector(4, input_channels=16, feature_spatial=(2, 2), **HEAD, **attention))
    assert built.arch["kwargs"]["feature_spatial"] == [2, 2]
    torch.manual_seed(0)
    assert_same_state(built, create_model_from_arch(json.loads(json.dumps(built.arch))))


def test_frame_mode_builds_the_backbone_by_name():
    options = dict(backbone_options={"num_frames": 16}, crop=32, endpoints=("Mixed_4f", "Mixed_5c"), **HEAD,
                   attention="gaf", attention_options=GAF)
    torch.manual_seed(0)
    built = create_model("afsd", 3, backbone="inception_i3d_tiny", **options)
    torch.manual_seed(0)
    backbone = create_model("inception_i3d_tiny", 1, num_frames=16)
    expected = afsd_detector(3, backbone, options["endpoints"], crop=32, attention="gaf", attention_options=GAF, **HEAD)
    assert_same_state(built, expected)
    assert built.backbone.arch == {"name": "inception_i3d_tiny", "kwargs": {"num_classes": 1, "num_frames": 16}}
    assert isinstance(built.attention, GenerativeAttention)
    assert built.attention.in_spatial == ((2, 2), (1, 1)) and built.attention.in_strides == (4, 8)
    mask = torch.ones(1, 16, dtype=torch.bool)
    with torch.no_grad():
        out = built.eval()(torch.randn(1, 3, 16, 32, 32), mask)
    assert out.cls_logits.shape == (1, sum(out.level_sizes), 4)


def test_backbone_options_need_a_backbone():
    with pytest.raises(ValueError, match="without a backbone"):
        create_model("afsd", 2, input_channels=8, backbone_options={"num_frames": 8}, **HEAD)
