"""I3D ResNet-50 (``i3d_r50``, ``i3d_tiny``): layout, 2D->3D inflation, W3/CBAM/non-local attention."""

import pytest
import torch

from vidaction.models import create_model, load_pretrained
from vidaction.models.attention import CBAM, NonLocalBlock, W3Attention
# Importing the module registers i3d_r50 and i3d_tiny.
from vidaction.models.backbones.resnet3d import I3D_R50_INFLATE, inflate_2d_state_dict


def test_shapes_feature_info_and_head():
    torch.manual_seed(0)
    model = create_model("i3d_tiny", num_classes=5, num_frames=16).eval()
    x = torch.randn(2, 3, 16, 64, 64)
    with torch.no_grad():
        scores, features = model(x, return_features=True)
        frame_scores = model.frame_logits(features)
    assert scores.shape == (2, 5) and torch.isfinite(scores).all()
    assert model.stage_names == [info["name"] for info in model.feature_info] == list(features)
    for info in model.feature_info:
        assert features[info["name"]].shape == (2, info["num_chs"], 16 // info["reduction_t"],
                                                64 // info["reduction_s"], 64 // info["reduction_s"])
    assert [info["reduction_t"] for info in model.feature_info] == [4, 4, 8, 8, 8]
    assert model.num_features == features["layer4"].shape[1] == 256
    assert frame_scores.shape == (2, 2, 5)
    assert torch.allclose(scores, frame_scores.mean(1))
    model.reset_classifier((3, 4))
    assert model.head_sizes == (3, 4) and model(x).shape == (2, 7)


def test_r50_layout_matches_mmaction2_i3d_r50():
    model = create_model("i3d_r50", num_classes=400, num_frames=32)
    # MMAction2's metafile lists 28043472 parameters for i3d_r50_32x2x1 (Kinetics-400).
    assert sum(p.numel() for p in model.parameters()) == 28043472
    assert model.conv1.weight.shape == (64, 3, 5, 7, 7) and model.conv1.stride == (2, 2, 2)
    assert model.maxpool.stride == (2, 2, 2) and model.pool2.kernel_size == (2, 1, 1)
    inflated = tuple(tuple(int(block.conv1.kernel_size[0] == 3) for block in getattr(model, f"layer{i}"))
                     for i in range(1, 5))
    assert inflated == I3D_R50_INFLATE
    assert model.layer2[0].conv2.stride == (1, 2, 2) and model.layer2[0].conv1.stride == (1, 1, 1)
    assert model.layer2[0].downsample[0].stride == (1, 2, 2)
    tsn = create_model("tsn_r50", num_classes=400, num_frames=32)
    assert set(model.state_dict()) == set(tsn.state_dict())


@pytest.mark.parametrize("attention", [None, "w3", "cbam"])
def test_every_parameter_gets_a_gradient(attention):
    torch.manual_seed(0)
    model = create_model("i3d_tiny", num_classes=3, num_frames=8, attention=attention, refine=attention is not None)
    if model.refine is not None:
        with torch.no_grad():
            model.refine.scale.fill_(1.0)  # zero at init: the conv learns once the gate has moved
    model(torch.randn(2, 3, 8, 64, 64)).logsumexp(1).sum().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0, name


def test_inflated_resnet50_reproduces_the_2d_network_on_a_still_clip():
    torch.manual_seed(0)
    tsn = create_model("tsn_r50", num_classes=5, num_frames=1, base_width=8).eval()
    for module in tsn.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.weight.data.uniform_(0.5, 1.5)
            module.bias.data.normal_(0.0, 0.1)
            module.running_mean.normal_(0.0, 0.1)
            module.running_var.uniform_(0.5, 1.5)
    i3d = create_model("i3d_r50", num_classes=5, num_frames=160, base_width=8).eval()
    state = inflate_2d_state_dict(tsn.state_dict(), i3d)
    assert torch.allclose(state["layer1.0.conv1.weight"].sum(2), tsn.layer1[0].conv1.weight)
    assert load_pretrained(i3d, state, strict=True).clean
    image = torch.randn(1, 3, 1, 64, 64)
    with torch.no_grad():
        video = i3d.forward_features(image.expand(-1, -1, 160, -1, -1))
        frame = tsn.forward_features(image)
    # At T=160 the zero temporal padding reaches 8 of layer4's 20 steps from each end; the middle
    # step of every stage sees only the still image, where inflation is exact.
    for name, f in video.items():
        scale = frame[name].abs().max()
        assert torch.allclose(f[:, :, f.shape[2] // 2], frame[name][:, :, 0], atol=1e-5 * scale), name
    assert not torch.allclose(video["layer4"][:, :, 0], frame["layer4"][:, :, 0], atol=1e-2)


def test_inflation_fills_wrapped_nonlocal_blocks():
    plain = create_model("tsn_r50", num_classes=5, num_frames=1, base_width=8)
    nl = create_model("i3d_r50", num_classes=5, num_frames=8, base_width=8, attention="nonlocal")
    report = load_pretrained(nl, inflate_2d_state_dict(plain.state_dict(), nl))
    assert not report.unexpected and not report.mismatched
    assert report.missing and all(".nl." in key for key in report.missing)


@pytest.mark.parametrize("attention, cls", [("w3", W3Attention), ("cbam", CBAM)])
def test_attention_on_every_block_and_masks(attention, cls):
    torch.manual_seed(0)
    model = create_model("i3d_r50", num_classes=3, num_frames=8, base_width=8, attention=attention,
                         attention_stages=(2, 4))
    attended = [name for name, m in model.named_modules() if isinstance(m, cls)]
    assert attended == [f"layer2.{i}.attention" for i in range(4)] + [f"layer4.{i}.attention" for i in range(3)]
    with torch.no_grad():
        features = model.forward_features(torch.randn(2, 3, 16, 64, 64))
    masks = model.attention_masks()
    assert list(masks) == ["layer2", "layer4"]
    for stage, mask in masks.items():
        assert mask.shape == (2, 1, *features[stage].shape[2:])
        assert mask.min() >= 0 and mask.max() <= 1
    channel = model.layer2[-1].attention.last_masks.channel
    assert channel.shape == (2, 64, 2) and channel.min() >= 0 and channel.max() <= 1


def test_refinement_adds_relu_conv_of_pooled_spatio_temporal_masks(refined_and_plain):
    refined, plain = refined_and_plain("i3d_tiny", num_frames=16)
    x = torch.randn(2, 3, 16, 64, 64)
    with torch.no_grad():
        y = refined.forward_features(x)["layer4"]
        base = plain.forward_features(x)["layer4"]
        masks = refined.attention_masks()
    assert masks["layer1"].shape[2:] == (4, 16, 16) and y.shape[2:] == (2, 2, 2)
    pooled = []
    for m in masks.values():
        t, h, w = (s // o for s, o in zip(m.shape[2:], y.shape[2:]))
        pooled.append(m.unflatten(4, (-1, w)).unflatten(3, (-1, h)).unflatten(2, (-1, t)).mean(dim=(3, 5, 7)))
    weight = refined.refine.weight[:, :, 0, 0, 0]
    expected = refined.refine.scale[:, None, None, None] * torch.relu(
        torch.einsum("kj,njthw->nkthw", weight, torch.cat(pooled, 1)) + refined.refine.bias[:, None, None, None])
    assert torch.allclose(y - base, expected, atol=1e-5)


def test_nonlocal_follows_the_five_block_i3d_and_starts_as_identity():
    torch.manual_seed(0)
    nl = create_model("i3d_r50", num_classes=5, num_frames=8, base_width=8, attention="nonlocal").eval()
    wrapped = [name for name, m in nl.named_modules() if isinstance(m, NonLocalBlock)]
    assert wrapped == ["layer2.1.nl", "layer2.3.nl", "layer3.1.nl", "layer3.3.nl", "layer3.5.nl"]
    assert {"layer2.1.block.conv1.weight", "layer2.1.nl.theta.weight", "layer2.1.nl.W.1.weight"} <= set(nl.state_dict())
    plain = create_model("i3d_r50", num_classes=5, num_frames=8, base_width=8).eval()
    report = load_pretrained(nl, plain.state_dict())
    assert not report.unexpected and not report.mismatched and all(".nl." in key for key in report.missing)
    x = torch.randn(1, 3, 8, 32, 32)
    with torch.no_grad():
        assert torch.allclose(nl(x), plain(x), atol=1e-6)
    nl.train()
    nl(torch.randn(2, 3, 8, 32, 32)).logsumexp(1).sum().backward()
    assert nl.layer2[1].nl.W[1].weight.grad.abs().sum() > 0


def test_build_time_errors_name_the_problem():
    with pytest.raises(ValueError, match="attention must be"):
        create_model("i3d_tiny", num_classes=3, num_frames=8, attention="se")
    with pytest.raises(ValueError, match=r"attention_stages \[5\] do not exist"):
        create_model("i3d_tiny", num_classes=3, num_frames=8, attention="w3", attention_stages=(1, 5))
    with pytest.raises(ValueError, match="refine=True .* needs attention='w3' or 'cbam'"):
        create_model("i3d_tiny", num_classes=3, num_frames=8, refine=True)
    with pytest.raises(ValueError, match="refine=True .* needs attention='w3' or 'cbam'"):
        create_model("i3d_r50", num_classes=3, num_frames=8, attention="nonlocal", refine=True)
    with pytest.raises(ValueError, match="no non-local block would be placed"):
        create_model("i3d_tiny", num_classes=3, num_frames=8, attention="nonlocal")
    with pytest.raises(ValueError, match="needs at least 5 frames"):
        create_model("i3d_tiny", num_classes=3, num_frames=4)
    with pytest.raises(ValueError, match=r"at layer1\.0: .*unexpected keyword"):
        create_model("i3d_tiny", num_classes=3, num_frames=8, attention="cbam", attention_options={"kernel": 3})


@pytest.mark.parametrize("attention", ["w3", "cbam"])
def test_feature_map_smaller_than_spatial_kernel_fails_at_build_naming_the_layer(attention):
    with pytest.raises(ValueError, match=r"layer4: a 112x112 input gives 4x4 feature maps, smaller than the 7x7"):
        create_model("i3d_r50", num_classes=3, num_frames=8, attention=attention, input_size=112)
    model = create_model("i3d_tiny", num_classes=3, num_frames=8, attention=attention, input_size=112,
                         attention_stages=(1, 2, 3))
    assert model.attention_stages == (1, 2, 3)
    create_model("i3d_tiny", num_classes=3, num_frames=8, attention=attention, input_size=112,
                 attention_options={"spatial_kernel": 3})


def test_bad_clip_shape_is_explained():
    model = create_model("i3d_tiny", num_classes=2, num_frames=8).eval()
    with pytest.raises(ValueError, match=r"expected a clip \(N, 3, T, H, W\)"):
        model(torch.randn(1, 3, 32, 32))
    with pytest.raises(ValueError, match="a clip of 4 frames is too short"):
        model(torch.randn(1, 3, 4, 32, 32))
    assert model(torch.randn(1, 3, 5, 32, 32)).shape == (1, 2)
