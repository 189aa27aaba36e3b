"""Every registered model: forward shape, finite output, gradients everywhere, feature_info truthful. The
networks are built at base_width=8 (the widths of the tiny variants); the full-width ones are checked
for shapes on the meta device, which computes nothing."""

import pytest
import torch

from vidaction.models import ModelNotFoundError, create_model, list_models, register_model

TINY_WIDTH = 8


def assert_feature_info_matches(model, features, batch=2, frames=8, size=32):
    assert [info["name"] for info in model.feature_info] == list(features)
    for info in model.feature_info:
        f = features[info["name"]]
        assert f.shape[:3] == (batch, info["num_chs"], frames // info["reduction_t"])
        assert f.shape[3] == size // info["reduction_s"]


@pytest.mark.parametrize("name", list_models())
def test_forward_shape_and_feature_info(name):
    torch.manual_seed(0)
    model = create_model(name, num_classes=5, num_frames=8, base_width=TINY_WIDTH).eval()
    x = torch.randn(2, 3, 8, 32, 32)
    with torch.no_grad():
        features = model.forward_features(x)
        scores = model.forward_head(features)
    assert scores.shape == (2, 5) and torch.isfinite(scores).all()
    assert_feature_info_matches(model, features)


@pytest.mark.parametrize("name", list_models())
def test_full_width_feature_info_on_the_meta_device(name):
    with torch.device("meta"):
        model = create_model(name, num_classes=5, num_frames=8).eval()
        features = model.forward_features(torch.empty(2, 3, 8, 32, 32))
        scores = model.forward_head(features)
    assert scores.shape == (2, 5)
    assert_feature_info_matches(model, features)


@pytest.mark.parametrize("name", list_models())
def test_every_parameter_gets_a_gradient(name):
    torch.manual_seed(0)
    model = create_model(name, num_classes=3, num_frames=8, base_width=TINY_WIDTH)
    model(torch.randn(2, 3, 8, 32, 32)).logsumexp(1).sum().backward()
    for pname, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0, pname


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
    assert list_models("tsm_*") == ["tsm_r18", "tsm_r50", "tsm_tiny"]


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
