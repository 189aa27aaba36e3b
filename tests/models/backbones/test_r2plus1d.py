"""HCML's R2D-50 and R(2+1)D-101 (``r2d_r50``, ``r2plus1d_r101``, tiny variants): Table 5 layout and
output sizes, head, gradients, 2D weights, parameters and MACs."""

import pytest
import torch
from torch import nn

from vidaction.models import create_model, list_models, load_pretrained
# Importing the module registers r2d_r50, r2plus1d_r101, r2d_tiny and r2plus1d_tiny.
from vidaction.models.backbones.r2plus1d import Bottleneck2Plus1d, R2Plus1D, state_dict_from_2d
from vidaction.models.backbones.resnet_tsm import Bottleneck, ResNetTSM
from vidaction.models.flops import count_macs
from vidaction.models.layers.video_conv import FACTORISED, SPATIAL

# Table 5's "Output Size" column (channels from its last 1x1x1 rows), T = 16 for R2D, 32 for R(2+1)D.
TABLE5 = {"stem": (64, 1, 112), "res2": (256, 1, 56), "res3": (512, 2, 28), "res4": (1024, 4, 14),
          "res5": (2048, 4, 7)}


def _meta_model(name, num_frames):
    with torch.device("meta"):
        return create_model(name, num_classes=400, num_frames=num_frames)


def _randomise_bn(model):
    for module in model.modules():
        if isinstance(module, (nn.BatchNorm2d, nn.BatchNorm3d)):
            module.weight.data.uniform_(0.5, 1.5)
            module.bias.data.normal_(0.0, 0.1)
            module.running_mean.normal_(0.0, 0.1)
            module.running_var.uniform_(0.5, 1.5)


def test_builders_are_registered():
    assert {"r2d_r50", "r2plus1d_r101", "r2d_tiny", "r2plus1d_tiny"} <= set(list_models("r2*"))


@pytest.mark.parametrize("name, num_frames", [("r2d_r50", 16), ("r2plus1d_r101", 32)])
def test_table5_output_sizes_at_the_paper_clip_lengths(name, num_frames):
    model = _meta_model(name, num_frames)
    features = model.forward_features(torch.empty(1, 3, num_frames, 224, 224, device="meta"))
    assert list(features) == model.stage_names == list(TABLE5)
    for info in model.feature_info:
        channels, t_div, side = TABLE5[info["name"]]
        expected = (1, channels, num_frames // t_div, side, side)
        assert features[info["name"]].shape == expected, info["name"]
        assert (info["num_chs"], num_frames // info["reduction_t"], 224 // info["reduction_s"]) == expected[1:4]


def test_r2d50_layout_matches_table5():
    model = _meta_model("r2d_r50", 16)
    assert [len(getattr(model, f"layer{i}")) for i in range(1, 5)] == [3, 4, 6, 3]
    assert model.conv1.weight.shape == (64, 3, 1, 7, 7) and model.conv1.stride == (1, 2, 2)
    assert all(m.kernel_size[0] == 1 for m in model.modules() if isinstance(m, nn.Conv3d))
    for index, (width, stride) in enumerate([(64, (1, 1, 1)), (128, (2, 2, 2)), (256, (2, 2, 2)), (512, (1, 2, 2))]):
        first = getattr(model, f"layer{index + 1}")[0]
        assert first.temporal_conv is None
        assert first.conv1.out_channels == first.conv2.out_channels == width
        assert first.conv2.kernel_size == (1, 3, 3) and first.conv3.out_channels == 4 * width
        assert first.conv2.stride == first.downsample[0].stride == stride
    tsn = _meta_model("tsn_r50", 16)
    assert set(model.state_dict()) == set(tsn.state_dict())


def test_r2plus1d101_temporal_convs_only_in_res4_res5_with_bottleneck_width():
    model = _meta_model("r2plus1d_r101", 32)
    assert [len(getattr(model, f"layer{i}")) for i in range(1, 5)] == [3, 4, 23, 3]
    for index, width in enumerate([64, 128, 256, 512]):
        for block in getattr(model, f"layer{index + 1}"):
            if index < 2:
                assert block.temporal_conv is None
            else:
                assert block.temporal_conv.weight.shape == (width, width, 3, 1, 1)
                assert block.conv2.weight.shape == (width, width, 1, 3, 3)
    res3, res4, res5 = model.layer2[0], model.layer3[0], model.layer4[0]
    assert res3.conv2.stride == res3.downsample[0].stride == (2, 2, 2)
    # res4 strides time on its 3x1x1 conv, space on its 1x3x3 conv.
    assert res4.temporal_conv.stride == (2, 1, 1) and res4.temporal_conv.padding == (1, 0, 0)
    assert res4.conv2.stride == (1, 2, 2) and res4.downsample[0].stride == (2, 2, 2)
    assert res5.temporal_conv.stride == (1, 1, 1) and res5.conv2.stride == res5.downsample[0].stride == (1, 2, 2)


def test_temporal_conv_runs_between_the_first_1x1x1_and_the_1x3x3_conv():
    block = Bottleneck2Plus1d(16, 4, FACTORISED)
    calls = []
    for name in ("conv1", "temporal_conv", "conv2", "conv3"):
        getattr(block, name).register_forward_hook(lambda *_, name=name: calls.append(name))
    block(torch.randn(1, 16, 4, 6, 6))
    assert calls == ["conv1", "temporal_conv", "conv2", "conv3"]


@pytest.mark.parametrize("name", ["r2d_tiny", "r2plus1d_tiny"])
def test_tiny_shapes_feature_info_and_head(name):
    torch.manual_seed(0)
    model = create_model(name, num_classes=5, num_frames=16).eval()
    x = torch.randn(2, 3, 16, 64, 64)
    with torch.no_grad():
        scores, features = model(x, return_features=True)
        frame_scores = model.frame_logits(features)
    assert scores.shape == (2, 5) and torch.isfinite(scores).all()
    for info in model.feature_info:
        assert features[info["name"]].shape == (2, info["num_chs"], 16 // info["reduction_t"],
                                                64 // info["reduction_s"], 64 // info["reduction_s"])
    assert [(i["reduction_t"], i["reduction_s"]) for i in model.feature_info] == [(1, 2), (1, 4), (2, 8), (4, 16),
                                                                                  (4, 32)]
    assert model.num_features == features["res5"].shape[1] == 256
    assert frame_scores.shape == (2, 4, 5) and torch.allclose(scores, frame_scores.mean(1))
    pooled = model.fc(features["res5"].mean(dim=(2, 3, 4)))
    assert torch.allclose(scores, pooled, atol=1e-6)
    model.reset_classifier((3, 4))
    assert model.head_sizes == (3, 4) and model(x).shape == (2, 7)


def test_odd_clip_lengths_round_up_and_other_input_channels_run():
    model = create_model("r2plus1d_tiny", num_classes=2, num_frames=7, in_channels=2).eval()
    with torch.no_grad():
        features = model.forward_features(torch.randn(1, 2, 7, 32, 32))
    assert [f.shape[2] for f in features.values()] == [7, 7, 4, 2, 2]


@pytest.mark.parametrize("name", ["r2d_tiny", "r2plus1d_tiny"])
def test_every_parameter_gets_a_gradient(name):
    torch.manual_seed(0)
    model = create_model(name, num_classes=3, num_frames=8)
    model(torch.randn(2, 3, 8, 32, 32)).logsumexp(1).sum().backward()
    for pname, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0, pname


def test_appending_a_block_to_a_stage_changes_its_feature():
    torch.manual_seed(0)
    model = create_model("r2d_tiny", num_classes=3, num_frames=4).eval()
    x = torch.randn(1, 3, 4, 32, 32)
    with torch.no_grad():
        before = model.forward_features(x)
        model.layer1.append(Bottleneck2Plus1d(32, 8, SPATIAL).eval())
        after = model.forward_features(x)
    assert after["res2"].shape == before["res2"].shape and not torch.allclose(after["res2"], before["res2"])
    assert torch.equal(after["res2"], model.layer1[-1](model.layer1[:-1](model.maxpool(after["stem"]))))


def test_r2d50_with_2d_weights_is_the_2d_resnet_on_the_kept_frames():
    torch.manual_seed(0)
    tsn = create_model("tsn_r50", num_classes=5, num_frames=8, base_width=8).eval()
    _randomise_bn(tsn)
    r2d = create_model("r2d_r50", num_classes=5, num_frames=8, base_width=8).eval()
    state = state_dict_from_2d(tsn.state_dict(), r2d)
    assert state["layer1.0.conv2.weight"].shape == (8, 8, 1, 3, 3)
    assert load_pretrained(r2d, state, strict=True).clean
    x = torch.randn(1, 3, 8, 32, 32)
    with torch.no_grad():
        video = r2d.forward_features(x)
        frames = tsn.forward_features(x)
    pairs = [(r2d.maxpool(video["stem"]), frames["stem"]), (video["res2"], frames["layer1"]),
             (video["res3"], frames["layer2"][:, :, ::2]), (video["res4"], frames["layer3"][:, :, ::4]),
             (video["res5"], frames["layer4"][:, :, ::4])]
    for ours, reference in pairs:
        assert torch.allclose(ours, reference, atol=1e-5 * reference.abs().max())


def test_r2plus1d_with_identity_temporal_convs_is_the_2d_resnet():
    torch.manual_seed(0)
    resnet = ResNetTSM(Bottleneck, (1, 1, 1, 1), num_classes=5, num_frames=8, shift=False, base_width=8).eval()
    _randomise_bn(resnet)
    model = create_model("r2plus1d_tiny", num_classes=5, num_frames=8).eval()
    report = load_pretrained(model, state_dict_from_2d(resnet.state_dict(), model))
    assert not report.unexpected and not report.mismatched
    assert sorted(report.missing) == sorted(f"layer{i}.0.temporal_{p}" for i in (3, 4) for p in
                                            ("conv.weight", "bn.weight", "bn.bias", "bn.running_mean",
                                             "bn.running_var"))
    x = torch.randn(1, 3, 8, 32, 32)
    with torch.no_grad():
        frames = resnet.forward_features(x)
        for block in (model.layer3[0], model.layer4[0]):
            block.temporal_conv.weight.zero_()
            block.temporal_conv.weight[:, :, 1, 0, 0] = torch.eye(block.temporal_conv.in_channels)
            block.temporal_bn.running_var.fill_(1 - block.temporal_bn.eps)
        video = model.forward_features(x)
    for ours, reference in [(video["res4"], frames["layer3"][:, :, ::4]), (video["res5"], frames["layer4"][:, :, ::4])]:
        assert torch.allclose(ours, reference, atol=1e-5 * reference.abs().max())


def test_parameter_counts():
    r2d = _meta_model("r2d_r50", 16)
    r2p1d = _meta_model("r2plus1d_r101", 32)
    backbone = [sum(p.numel() for n, p in m.named_parameters() if not n.startswith("fc.")) for m in (r2d, r2p1d)]
    # torchvision's ResNet-50 / ResNet-101 without their 1000-way fc (2,049,000 parameters).
    assert backbone[0] == 25_557_032 - 2_049_000
    temporal = sum(n * (3 * w * w + 2 * w) for n, w in ((23, 256), (3, 512)))
    assert backbone[1] == 44_549_160 - 2_049_000 + temporal == 49_396_288
    assert sum(p.numel() for p in r2d.fc.parameters()) == 2048 * 400 + 400


@pytest.mark.parametrize("name, num_frames, gflops, overhead", [("r2d_r50", 16, 49, 1.18),
                                                                ("r2plus1d_r101", 32, 150, 1.11)])
def test_macs_match_the_paper_at_256_crops(name, num_frames, gflops, overhead):
    # Table 6 gives HCML's inference GFLOPs (backbone + prime motion blocks), Table 2 the blocks' overhead
    # factor: the backbone alone is gflops / overhead. That matches 256 x 256 crops (SlowFast's
    # three-crop testing, the recipe HCML follows); at 224 x 224 the backbones cost 31.1 and 101.8 G.
    model = _meta_model(name, num_frames)
    macs, _ = count_macs(model, (1, 3, num_frames, 256, 256))
    assert abs(macs / 1e9 - gflops / overhead) / (gflops / overhead) < 0.03


def test_bad_input_and_options_are_explained():
    model = create_model("r2d_tiny", num_classes=2, num_frames=4)
    with pytest.raises(ValueError, match=r"expected a clip \(N, 3, T, H, W\)"):
        model(torch.randn(1, 4, 32, 32))
    with pytest.raises(ValueError, match=r"expected a clip \(N, 3, T, H, W\)"):
        model(torch.randn(1, 2, 4, 32, 32))
    with pytest.raises(ValueError, match="num_frames must be >= 1"):
        create_model("r2d_tiny", num_classes=2, num_frames=0)
    with pytest.raises(ValueError, match="empty dimension"):
        model(torch.randn(1, 3, 0, 32, 32))
    with pytest.raises(ValueError, match=r"temporal_stages \['res6'\] are not stages"):
        R2Plus1D((1, 1, 1, 1), ("res6",), num_classes=2, num_frames=4)
    with pytest.raises(ValueError, match="res2..res5 at least one block each"):
        R2Plus1D((1, 1, 1), (), num_classes=2, num_frames=4)
