"""Every registered model: forward shape, finite output, gradients everywhere, feature_info truthful,
``model.arch`` rebuilding it. The networks are built at base_width=8 (the widths of the tiny
variants); the full-width ones are checked for shapes on the meta device, which computes nothing.
The detector (``afsd``) and HCML's training network (``hcml``) are not clip classifiers: they are
swept for ``arch`` here and tested in test_detector.py and motion/test_hcml.py."""

import copy
import json

import pytest
import torch

from vidaction.models import ModelNotFoundError, create_model, create_model_from_arch, list_models, register_model

TINY_WIDTH = 8
NOT_CLASSIFIERS = ("afsd", "hcml")
CLASSIFIERS = [name for name in list_models() if name not in NOT_CLASSIFIERS]
# Tiny builds of the models whose width is not their own base_width option.
TINY_OPTIONS = {
    "gaf_classifier": {"backbone_options": {"base_width": TINY_WIDTH}},
    "hcml": {"backbone": "r2d_tiny", "backbone_options": {"motion": "pmb"}},
    "tsm_mobilenet_v2": {"width_mult": 0.25},
    "afsd": {"input_channels": 16, "channels": 16, "proposal_channels": 16, "frame_channels": 16, "num_levels": 3,
             "norm_groups": 4},
}


def tiny(name, num_classes=5):
    """``name`` at the tiny widths; the detector takes no clip length."""
    num_frames = None if name == "afsd" else 8
    return create_model(name, num_classes, num_frames, **TINY_OPTIONS.get(name, {"base_width": TINY_WIDTH}))


def assert_feature_info_matches(model, features, batch=2, frames=8, size=32):
    assert [info["name"] for info in model.feature_info] == list(features)
    for info in model.feature_info:
        f = features[info["name"]]
        assert f.shape[:3] == (batch, info["num_chs"], frames // info["reduction_t"])
        assert f.shape[3] == size // info["reduction_s"]


@pytest.mark.parametrize("name", CLASSIFIERS)
def test_forward_shape_and_feature_info(name):
    torch.manual_seed(0)
    model = tiny(name).eval()
    x = torch.randn(2, 3, 8, 32, 32)
    with torch.no_grad():
        features = model.forward_features(x)
        scores = model.forward_head(features)
    assert scores.shape == (2, 5) and torch.isfinite(scores).all()
    assert_feature_info_matches(model, features)


@pytest.mark.parametrize("name", CLASSIFIERS)
def test_full_width_feature_info_on_the_meta_device(name):
    with torch.device("meta"):
        model = create_model(name, num_classes=5, num_frames=8).eval()
        features = model.forward_features(torch.empty(2, 3, 8, 32, 32))
        scores = model.forward_head(features)
    assert scores.shape == (2, 5)
    assert_feature_info_matches(model, features)


@pytest.mark.parametrize("name", CLASSIFIERS)
def test_every_parameter_gets_a_gradient(name):
    torch.manual_seed(0)
    model = tiny(name, num_classes=3)
    model(torch.randn(2, 3, 8, 32, 32)).logsumexp(1).sum().backward()
    for pname, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0, pname


@pytest.mark.parametrize("name", list_models())
def test_arch_rebuilds_the_same_network(name):
    torch.manual_seed(0)
    model = tiny(name)
    arch = json.loads(json.dumps(model.arch))
    assert arch == model.arch and arch["name"] == name and arch["kwargs"]["num_classes"] == 5
    assert ("num_frames" in arch["kwargs"]) == (name != "afsd")
    torch.manual_seed(0)
    rebuilt = create_model_from_arch(arch)
    assert type(rebuilt) is type(model) and rebuilt.arch == model.arch
    state, again = model.state_dict(), rebuilt.state_dict()
    assert list(state) == list(again)
    assert all(state[key].shape == again[key].shape and torch.equal(state[key], again[key]) for key in state)


def test_arch_is_plain_data_outside_the_state_dict():
    model = create_model("tsm_tiny", num_classes=(3, 4), num_frames=4, attention="w3", attention_stages=(3, 4))
    assert model.arch == {"name": "tsm_tiny", "kwargs": {"num_classes": [3, 4], "num_frames": 4, "attention": "w3",
                                                         "attention_stages": [3, 4]}}
    assert list(model.state_dict()) == list(create_model("tsm_tiny", num_classes=(3, 4), num_frames=4,
                                                         attention="w3", attention_stages=(3, 4)).state_dict())
    assert "arch" not in dict(model.named_buffers()) and "arch" not in dict(model.named_parameters())
    assert copy.deepcopy(model).arch == model.arch
    assert create_model_from_arch(model.arch).head_sizes == (3, 4)


def test_arch_of_an_unknown_model_or_option_is_refused():
    with pytest.raises(ModelNotFoundError, match="unknown model 'tsm_r05'"):
        create_model_from_arch({"name": "tsm_r05", "kwargs": {"num_classes": 2, "num_frames": 8}})
    with pytest.raises(ModelNotFoundError, match="no option 'shift_dvi'"):
        create_model_from_arch({"name": "tsm_r18", "kwargs": {"num_classes": 2, "num_frames": 8, "shift_dvi": 4}})
    with pytest.raises(ValueError, match="an arch record is"):
        create_model_from_arch({"name": "tsm_r18"})
    with pytest.raises(ValueError, match="option 'attention_options' is a Tensor: model options must be plain data"):
        create_model("tsm_tiny", num_classes=2, num_frames=4, attention_options={"x": torch.zeros(1)})


def test_reset_classifier():
    model = create_model("tsn_tiny", num_classes=5, num_frames=2)
    model.reset_classifier(7)
    assert model(torch.randn(1, 3, 2, 32, 32)).shape == (1, 7)


def test_unknown_name_lists_models_and_closest():
    with pytest.raises(ModelNotFoundError, match=r"did you mean 'tsm_r50'.*Known models: .*tsn_r18"):
        create_model("tsm_r05", num_classes=2, num_frames=8)


def test_unknown_option_is_named():
    with pytest.raises(ModelNotFoundError, match="no option 'shift_dvi'; did you mean 'shift_div'"):
        create_model("tsm_r18", num_classes=2, num_frames=8, shift_dvi=4)


def test_duplicate_registration_rejected():
    with pytest.raises(ValueError, match="already registered"):
        @register_model
        def tsm_r50(num_classes, num_frames):
            raise AssertionError


def test_list_models_pattern():
    assert list_models("tsm_*") == ["tsm_mobilenet_v2", "tsm_r18", "tsm_r50", "tsm_tiny"]


def test_bad_clip_shape_is_explained():
    model = create_model("tsm_tiny", num_classes=2, num_frames=4)
    with pytest.raises(ValueError, match="built for T=4"):
        model(torch.randn(1, 3, 3, 32, 32))
    with pytest.raises(ValueError, match=r"expected a clip \(N, 3, T, H, W\)"):
        model(torch.randn(1, 4, 32, 32))


def test_num_frames_may_be_left_to_the_builder_default():
    with torch.device("meta"):
        model = create_model("i3d", num_classes=400, in_channels=3)
    assert model.num_frames == 64
    with pytest.raises(ModelNotFoundError, match="'tsm_r18' is built for a clip length: pass num_frames"):
        create_model("tsm_r18", num_classes=2)
    with pytest.raises(ModelNotFoundError, match="'afsd' works at any clip length: it takes no num_frames"):
        create_model("afsd", num_classes=2, num_frames=8, input_channels=4)
