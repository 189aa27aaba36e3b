"""Inception-I3D (``i3d``, ``inception_i3d_tiny``): piergiaj/pytorch-i3d's key names and layout, TF
"same" padding, endpoint shapes, equality with a functional re-statement of the port's forward,
gradients, and the classifier of another size."""

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from vidaction.models import create_model, list_models, load_pretrained
from vidaction.models.backbones.i3d import InceptionI3d, Unit3D, inception_i3d_from_state_dict, same_padding
from vidaction.models.flops import count_macs

# The port's modules, written out from pytorch_i3d.py (not from our constants): stem convs
# (in, out, kernel), Inception branch widths (b0, b1a, b1b, b2a, b2b, b3b).
PORT_STEM = {"Conv3d_1a_7x7": (None, 64, 7), "Conv3d_2b_1x1": (64, 64, 1), "Conv3d_2c_3x3": (64, 192, 3)}
PORT_MIXED = {
    "Mixed_3b": (192, [64, 96, 128, 16, 32, 32]),
    "Mixed_3c": (256, [128, 128, 192, 32, 96, 64]),
    "Mixed_4b": (128 + 192 + 96 + 64, [192, 96, 208, 16, 48, 64]),
    "Mixed_4c": (192 + 208 + 48 + 64, [160, 112, 224, 24, 64, 64]),
    "Mixed_4d": (160 + 224 + 64 + 64, [128, 128, 256, 24, 64, 64]),
    "Mixed_4e": (128 + 256 + 64 + 64, [112, 144, 288, 32, 64, 64]),
    "Mixed_4f": (112 + 288 + 64 + 64, [256, 160, 320, 32, 128, 128]),
    "Mixed_5b": (256 + 320 + 128 + 128, [256, 160, 320, 32, 128, 128]),
    "Mixed_5c": (256 + 320 + 128 + 128, [384, 192, 384, 48, 128, 128]),
}
BN_KEYS = ("weight", "bias", "running_mean", "running_var")


def port_state_dict_shapes(in_channels=3, num_classes=400, batches_tracked=False):
    """Key -> shape of the port's ``InceptionI3d(num_classes, in_channels=...).state_dict()``."""
    shapes = {}

    def unit(prefix, cin, cout, k):
        shapes[f"{prefix}.conv3d.weight"] = (cout, cin, k, k, k)
        for key in BN_KEYS:
            shapes[f"{prefix}.bn.{key}"] = (cout,)
        if batches_tracked:
            shapes[f"{prefix}.bn.num_batches_tracked"] = ()

    for name, (cin, cout, k) in PORT_STEM.items():
        unit(name, cin or in_channels, cout, k)
    for name, (cin, w) in PORT_MIXED.items():
        for branch, bin_, bout, k in (("b0", cin, w[0], 1), ("b1a", cin, w[1], 1), ("b1b", w[1], w[2], 3),
                                      ("b2a", cin, w[3], 1), ("b2b", w[3], w[4], 3), ("b3b", cin, w[5], 1)):
            unit(f"{name}.{branch}", bin_, bout, k)
    shapes["logits.conv3d.weight"] = (num_classes, 1024, 1, 1, 1)
    shapes["logits.conv3d.bias"] = (num_classes,)
    return shapes


def random_port_state_dict(in_channels=3, num_classes=400, batches_tracked=False, seed=0):
    generator = torch.Generator().manual_seed(seed)
    state = {}
    for key, shape in port_state_dict_shapes(in_channels, num_classes, batches_tracked).items():
        if key.endswith("num_batches_tracked"):
            state[key] = torch.tensor(7)
        elif key.endswith("running_var") or key.endswith("bn.weight"):
            state[key] = torch.rand(shape, generator=generator) + 0.5
        else:
            state[key] = torch.randn(shape, generator=generator) * 0.1
    return state


def _randomise(model, seed=0):
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.BatchNorm3d):
                module.weight.copy_(torch.rand(module.weight.shape, generator=generator) + 0.5)
                module.bias.normal_(0.0, 0.1, generator=generator)
                module.running_mean.normal_(0.0, 0.1, generator=generator)
                module.running_var.copy_(torch.rand(module.running_var.shape, generator=generator) + 0.5)
        model.logits.conv3d.weight.normal_(0.0, 0.1, generator=generator)
        model.logits.conv3d.bias.normal_(0.0, 0.1, generator=generator)
    return model


# A functional re-statement of the port's forward (pytorch_i3d.py), with its own "same" padding.
def _port_pad(n, k, s):
    # Unit3D.compute_pad / MaxPool3dSamePadding.compute_pad of the port.
    total = max(k - s, 0) if n % s == 0 else max(k - n % s, 0)
    return total // 2, total - total // 2


def _pad(x, kernel, stride):
    (tf, tb), (hf, hb), (wf, wb) = (_port_pad(n, k, s) for n, k, s in zip(x.shape[2:], kernel, stride))
    return F.pad(x, (wf, wb, hf, hb, tf, tb))


def _unit(state, prefix, x, stride=(1, 1, 1)):
    w = state[f"{prefix}.conv3d.weight"]
    x = F.conv3d(_pad(x, w.shape[2:], stride), w, None, stride)
    x = F.batch_norm(x, state[f"{prefix}.bn.running_mean"], state[f"{prefix}.bn.running_var"],
                     state[f"{prefix}.bn.weight"], state[f"{prefix}.bn.bias"], False, 0.0, 1e-3)
    return F.relu(x)


def _pool(x, kernel, stride):
    return F.max_pool3d(_pad(x, kernel, stride), kernel, stride)


def _mixed(state, name, x):
    return torch.cat([_unit(state, f"{name}.b0", x),
                      _unit(state, f"{name}.b1b", _unit(state, f"{name}.b1a", x)),
                      _unit(state, f"{name}.b2b", _unit(state, f"{name}.b2a", x)),
                      _unit(state, f"{name}.b3b", _pool(x, (3, 3, 3), (1, 1, 1)))], dim=1)


def reference_endpoints(state, x):
    """The port's endpoints Mixed_4f and Mixed_5c and its logits ``(N, K, T'')`` (``spatial_squeeze``)."""
    x = _unit(state, "Conv3d_1a_7x7", x, (2, 2, 2))
    x = _pool(x, (1, 3, 3), (1, 2, 2))
    x = _unit(state, "Conv3d_2c_3x3", _unit(state, "Conv3d_2b_1x1", x))
    x = _pool(x, (1, 3, 3), (1, 2, 2))
    x = _mixed(state, "Mixed_3c", _mixed(state, "Mixed_3b", x))
    x = _pool(x, (3, 3, 3), (2, 2, 2))
    for name in ("Mixed_4b", "Mixed_4c", "Mixed_4d", "Mixed_4e", "Mixed_4f"):
        x = _mixed(state, name, x)
    mixed_4f = x
    x = _pool(x, (2, 2, 2), (2, 2, 2))
    mixed_5c = _mixed(state, "Mixed_5c", _mixed(state, "Mixed_5b", x))
    pooled = F.avg_pool3d(mixed_5c, (2, 7, 7), stride=1)
    logits = F.conv3d(pooled, state["logits.conv3d.weight"], state["logits.conv3d.bias"])
    return mixed_4f, mixed_5c, logits.squeeze(3).squeeze(3)


def test_builders_are_registered():
    assert {"i3d", "inception_i3d_tiny"} <= set(list_models())


@pytest.mark.parametrize("in_channels, num_classes", [(3, 400), (2, 400), (3, 157)])
def test_port_state_dict_loads_with_nothing_missing_or_unexpected(tmp_path, in_channels, num_classes):
    # rgb_imagenet.pt / flow_imagenet.pt (400 Kinetics classes) and rgb_charades.pt (157 classes),
    # as saved by the port's PyTorch 0.3 (no num_batches_tracked) and by newer PyTorch.
    for batches_tracked in (False, True):
        state = random_port_state_dict(in_channels, num_classes, batches_tracked)
        assert len(state) == (344 if batches_tracked else 287)
        path = tmp_path / f"weights_{batches_tracked}.pt"
        torch.save(state, path)
        model = create_model("i3d", num_classes=num_classes, num_frames=64, in_channels=in_channels)
        report = load_pretrained(model, path)
        assert report.clean and report.loaded == len(state), str(report)
        assert (report.missing, report.unexpected, report.mismatched) == ([], [], [])
        own = model.state_dict()
        assert set(own) == set(port_state_dict_shapes(in_channels, num_classes, batches_tracked=True))
        for key in ("Conv3d_1a_7x7.conv3d.weight", "Mixed_4f.b2b.bn.running_var", "logits.conv3d.bias"):
            assert torch.equal(own[key], state[key]), key


def test_parameter_count_matches_the_port():
    with torch.device("meta"):
        model = create_model("i3d", num_classes=400, num_frames=64)
    expected = sum(math.prod(shape) for key, shape in port_state_dict_shapes().items()
                   if key.endswith(("conv3d.weight", "conv3d.bias", "bn.weight", "bn.bias")))
    assert sum(p.numel() for p in model.parameters()) == expected == 12_697_264


def test_classifier_of_another_size_is_skipped_with_a_note():
    model = create_model("inception_i3d_tiny", num_classes=20, num_frames=8)
    source = create_model("inception_i3d_tiny", num_classes=400, num_frames=8).state_dict()
    report = load_pretrained(model, source)
    assert not report.missing and not report.unexpected and not report.mismatched
    assert any("logits.conv3d.weight" in note for note in report.notes)


def test_weights_sized_from_their_state_dict():
    source = _randomise(create_model("inception_i3d_tiny", num_classes=7, num_frames=8, in_channels=2))
    wrapped = {f"module.{k}": v for k, v in source.state_dict().items()}
    model = inception_i3d_from_state_dict(wrapped)
    assert (model.in_channels, model.base_width, model.num_classes) == (2, 8, 7)
    x = torch.randn(1, 2, 8, 32, 32)
    with torch.no_grad():
        assert torch.equal(model.eval()(x), source.eval()(x))
    with pytest.raises(ValueError, match="not Inception-I3D weights"):
        inception_i3d_from_state_dict({"fc.weight": torch.zeros(2, 3)})


@pytest.mark.parametrize("shape, mixed_4f, mixed_5c, steps", [
    ((1, 3, 256, 96, 96), (832, 64, 6, 6), (1024, 32, 3, 3), 31),     # GAF / AFSD windows
    ((1, 3, 64, 224, 224), (832, 16, 14, 14), (1024, 8, 7, 7), 7),    # the checkpoints' clips
])
def test_endpoint_shapes(shape, mixed_4f, mixed_5c, steps):
    with torch.device("meta"):
        model = create_model("i3d", num_classes=400, num_frames=shape[2]).eval()
        features = model.forward_features(torch.empty(shape))
        frame_logits = model.frame_logits(features)
    assert list(features) == [info["name"] for info in model.feature_info]
    assert features["Mixed_4f"].shape[1:] == mixed_4f and features["Mixed_5c"].shape[1:] == mixed_5c
    assert frame_logits.shape == (1, steps, 400)
    for info in model.feature_info:
        assert features[info["name"]].shape[1:4] == (info["num_chs"], shape[2] // info["reduction_t"],
                                                     shape[3] // info["reduction_s"])


def test_until_stops_at_any_endpoint_and_computes_nothing_after():
    model = create_model("inception_i3d_tiny", num_classes=5, num_frames=16).eval()
    calls = []
    for name in ("Mixed_4e", "Mixed_4f", "MaxPool3d_5a_2x2", "Mixed_5c"):
        getattr(model, name).register_forward_hook(lambda *_, name=name: calls.append(name))
    with torch.no_grad():
        features = model.forward_features(torch.randn(1, 3, 16, 64, 64), until="Mixed_4e")
    assert list(features) == ["Conv3d_1a_7x7", "Conv3d_2c_3x3", "Mixed_3c", "Mixed_4e"]
    assert calls == ["Mixed_4e"]
    info = model.endpoint_info["Mixed_4e"]
    assert features["Mixed_4e"].shape == (1, info["num_chs"], 16 // info["reduction_t"], 64 // info["reduction_s"],
                                          64 // info["reduction_s"])
    with pytest.raises(ValueError, match="unknown I3D endpoint 'Mixed_6a'"):
        model.forward_features(torch.randn(1, 3, 16, 64, 64), until="Mixed_6a")


def test_scores_equal_the_port_forward_averaged_over_time():
    torch.manual_seed(0)
    model = _randomise(create_model("inception_i3d_tiny", num_classes=6, num_frames=24)).eval()
    state = model.state_dict()
    x = torch.randn(1, 3, 24, 224, 224)   # Mixed_5c 3 x 7 x 7: the port's [2, 7, 7] pool gives 2 steps
    with torch.no_grad():
        scores, features = model(x, return_features=True)
        frame_logits = model.frame_logits(features)
        ref_4f, ref_5c, ref_logits = reference_endpoints(state, x)
    assert ref_logits.shape == (1, 6, 2)
    torch.testing.assert_close(features["Mixed_4f"], ref_4f, rtol=1e-5, atol=1e-4)
    torch.testing.assert_close(features["Mixed_5c"], ref_5c, rtol=1e-5, atol=1e-4)
    torch.testing.assert_close(frame_logits, ref_logits.transpose(1, 2), rtol=0, atol=1e-4)
    torch.testing.assert_close(scores, ref_logits.mean(2), rtol=0, atol=1e-4)
    assert ref_logits.std() > 0.05


def test_small_maps_average_the_whole_axis():
    # 96 x 96 crops give a 3 x 3 Mixed_5c: the [2, 7, 7] pool becomes [2, 3, 3].
    model = _randomise(create_model("inception_i3d_tiny", num_classes=4, num_frames=32)).eval()
    with torch.no_grad():
        features = model.forward_features(torch.randn(1, 3, 32, 96, 96))
        mixed_5c = features["Mixed_5c"]
        expected = model.logits(F.avg_pool3d(mixed_5c, (2, 3, 3), stride=1)).flatten(2).mean(2)
        assert torch.allclose(model.forward_head(features), expected, atol=1e-6)
        # The head is linear after the pool: on a map <= [2, 7, 7] the scores classify its global average.
        small = model.forward_features(torch.randn(1, 3, 16, 64, 64))["Mixed_5c"]
        assert small.shape[2:] == (2, 2, 2)
        pooled = model.logits(small.mean(dim=(2, 3, 4), keepdim=True)).flatten(1)
        assert torch.allclose(model.forward_head({"Mixed_5c": small}), pooled, atol=1e-6)


@pytest.mark.parametrize("n", range(1, 12))
@pytest.mark.parametrize("k, s", [(1, 1), (3, 1), (7, 2), (3, 2), (2, 2), (1, 2)])
def test_same_padding_is_tensorflow_same(n, k, s):
    front, back = same_padding((n,), (k,), (s,))
    assert (front, back) == _port_pad(n, k, s)
    assert (n + front + back - k) // s + 1 == math.ceil(n / s) and back - front in (0, 1)


def test_unit3d_pads_as_tensorflow():
    torch.manual_seed(0)
    # Stride 1, odd kernel: symmetric, PyTorch's padding = k // 2.
    unit = Unit3D(2, 3, (3, 3, 3), batch_norm=False, activation=False)
    x = torch.randn(1, 2, 5, 6, 7)
    torch.testing.assert_close(unit(x), F.conv3d(x, unit.conv3d.weight, padding=1))
    # Conv3d_1a_7x7 on an even axis pads 2 before and 3 after (PyTorch's symmetric 3 differs).
    stem = Unit3D(1, 1, (7, 7, 7), (2, 2, 2), batch_norm=False, activation=False)
    x = torch.randn(1, 1, 8, 8, 8)
    expected = F.conv3d(F.pad(x, (2, 3, 2, 3, 2, 3)), stem.conv3d.weight, stride=2)
    torch.testing.assert_close(stem(x), expected)
    assert not torch.allclose(stem(x), F.conv3d(x, stem.conv3d.weight, stride=2, padding=3))
    assert stem(torch.randn(1, 1, 9, 5, 1)).shape == (1, 1, 5, 3, 1)


def test_batch_norm_is_the_ports():
    bn = create_model("inception_i3d_tiny", num_classes=2, num_frames=8).Conv3d_1a_7x7.bn
    assert (bn.eps, bn.momentum) == (1e-3, 0.01)


def test_gradients_reach_every_parameter_of_a_flow_model():
    torch.manual_seed(0)
    model = create_model("inception_i3d_tiny", num_classes=3, num_frames=16, in_channels=2, dropout=0.5)
    model(torch.randn(2, 2, 16, 32, 32)).logsumexp(1).sum().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0, name


def test_interface_heads_reset_and_preprocessing():
    model = create_model("inception_i3d_tiny", num_classes=(3, 4), num_frames=16)
    assert model.num_classes == 7 and model.head_sizes == (3, 4)
    assert model(torch.randn(1, 3, 16, 32, 32)).shape == (1, 7)
    model.reset_classifier(5)
    assert model.num_classes == 5 and model.logits.conv3d.out_channels == 5
    assert model(torch.randn(1, 3, 16, 32, 32)).shape == (1, 5)
    assert model.pretrained_cfg["mean"] == model.pretrained_cfg["std"] == [0.5, 0.5, 0.5]
    with torch.device("meta"):
        flow = create_model("i3d", num_classes=400, num_frames=64, in_channels=2)
    assert flow.pretrained_cfg["mean"] == [0.5, 0.5] and flow.feature_info[-2:] == [
        dict(num_chs=832, reduction_t=4, reduction_s=16, name="Mixed_4f"),
        dict(num_chs=1024, reduction_t=8, reduction_s=32, name="Mixed_5c")]
    with pytest.raises(ValueError, match=r"expected a clip \(N, 2, T, H, W\)"):
        flow(torch.randn(1, 3, 8, 32, 32))


def test_tiny_widths_and_macs():
    model = create_model("inception_i3d_tiny", num_classes=400, num_frames=16)
    assert isinstance(model, InceptionI3d)
    assert [info["num_chs"] for info in model.feature_info] == [8, 24, 60, 104, 128]
    macs, params = count_macs(model, (1, 3, 16, 64, 64))
    assert params == sum(p.numel() for p in model.parameters()) and macs > 0
