"""TSM-MobileNetV2: the shifted blocks TSM chose, torchvision's parameter count, and weights loaded by key
mapping from state dicts generated with the keys and shapes of torchvision's MobileNetV2, the official TSM
checkpoints (``ops/models.py`` wrapping ``archs/mobilenet_v2.py``) and the online demo
(``online_demo/mobilenet_v2_tsm.py``), each written here from those files' module structure."""

import pytest
import torch

from vidaction.models import create_model, load_pretrained
from vidaction.models.hub import get_weights
from vidaction.models.layers.temporal_shift import TemporalShift

# MobileNetV2 (t, c, n, s) at width 1.0, stem 32, last conv 1280.
SETTING = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]
BN = ("weight", "bias", "running_mean", "running_var")


def blocks():
    """``(features index, in, out, stride, expansion)`` of the 17 inverted residual blocks."""
    index, channels = 1, 32
    for t, c, n, s in SETTING:
        for i in range(n):
            yield index, channels, c, s if i == 0 else 1, t
            index, channels = index + 1, c


def bn(prefix, channels, batches_tracked=False):
    state = {f"{prefix}.{name}": torch.randn(channels) for name in BN}
    return {**state, f"{prefix}.num_batches_tracked": torch.tensor(7)} if batches_tracked else state


def torchvision_state_dict(num_classes=1000):
    """torchvision's names: ConvNormActivation groups ``conv.A.0`` (conv) / ``conv.A.1`` (BN), then the
    projection ``conv.A`` and its BN; ``classifier.1`` after dropout."""
    state = {"features.0.0.weight": torch.randn(32, 3, 3, 3), **bn("features.0.1", 32)}
    for index, cin, cout, _, t in blocks():
        hidden, p, group = cin * t, f"features.{index}.conv", 0
        if t != 1:
            state.update({f"{p}.0.0.weight": torch.randn(hidden, cin, 1, 1), **bn(f"{p}.0.1", hidden)})
            group = 1
        state.update({f"{p}.{group}.0.weight": torch.randn(hidden, 1, 3, 3), **bn(f"{p}.{group}.1", hidden),
                      f"{p}.{group + 1}.weight": torch.randn(cout, hidden, 1, 1), **bn(f"{p}.{group + 2}", cout)})
    state.update({"features.18.0.weight": torch.randn(1280, 320, 1, 1), **bn("features.18.1", 1280),
                  "classifier.1.weight": torch.randn(num_classes, 1280), "classifier.1.bias": torch.randn(num_classes)})
    return state


def tsm_flat_state_dict(prefix="", shift_wrapped=False, classifier="classifier", num_classes=27):
    """TSM's ``archs/mobilenet_v2.py`` names (``conv.0`` .. ``conv.7`` flat), with ``conv.0`` wrapped by the
    shift as ``conv.0.net`` in shifted blocks when ``shift_wrapped`` (``ops/models.py``)."""
    state = {f"{prefix}features.0.0.weight": torch.randn(32, 3, 3, 3), **bn(f"{prefix}features.0.1", 32, True)}
    for index, cin, cout, stride, t in blocks():
        hidden, p = cin * t, f"{prefix}features.{index}.conv"
        if t == 1:
            layers = [("0", (hidden, 1, 3, 3)), ("1", hidden), ("3", (cout, hidden, 1, 1)), ("4", cout)]
        else:
            first = "0.net" if shift_wrapped and stride == 1 and cin == cout else "0"
            layers = [(first, (hidden, cin, 1, 1)), ("1", hidden), ("3", (hidden, 1, 3, 3)), ("4", hidden),
                      ("6", (cout, hidden, 1, 1)), ("7", cout)]
        for name, shape in layers:
            state.update({f"{p}.{name}.weight": torch.randn(shape)} if isinstance(shape, tuple) else
                         bn(f"{p}.{name}", shape, True))
    state.update({f"{prefix}features.18.0.weight": torch.randn(1280, 320, 1, 1),
                  **bn(f"{prefix}features.18.1", 1280, True),
                  f"{prefix}{classifier}.weight": torch.randn(num_classes, 1280),
                  f"{prefix}{classifier}.bias": torch.randn(num_classes)})
    return state


@pytest.fixture(scope="module")
def model():
    return create_model("tsm_mobilenet_v2", num_classes=1000, num_frames=8)


def test_shift_sits_in_the_expanding_residual_blocks_tsm_chose(model):
    shifted = [i for i, block in enumerate(model.features) if isinstance(getattr(block, "shift", None), TemporalShift)]
    # online_demo/mobilenet_v2_tsm.py: shift_block_idx = [2, 4, 5, 7, 8, 9, 11, 12, 14, 15] (blocks from 0).
    assert shifted == [i + 1 for i in (2, 4, 5, 7, 8, 9, 11, 12, 14, 15)]
    assert all(model.features[i].shift.fold_div == 8 for i in shifted)
    # torchvision's mobilenet_v2(): 3,504,872 parameters.
    assert sum(p.numel() for p in model.parameters()) == 3_504_872
    assert [(f["name"], f["num_chs"], f["reduction_s"]) for f in model.feature_info] == [
        ("features.1", 16, 2), ("features.3", 24, 4), ("features.6", 32, 8), ("features.13", 96, 16),
        ("features.18", 1280, 32)]


def test_torchvision_imagenet_weights_load_by_key_mapping(model):
    state = torchvision_state_dict()
    report = load_pretrained(model, state, strict=True)
    assert report.source_format == "torchvision" and report.loaded == len(state)
    ours = model.state_dict()
    expanding = {"conv.0.0.weight": "conv.0.weight", "conv.0.1.running_var": "conv.1.running_var",
                 "conv.1.0.weight": "conv.3.weight", "conv.1.1.running_var": "conv.4.running_var",
                 "conv.2.weight": "conv.6.weight", "conv.3.running_var": "conv.7.running_var"}
    for tv, flat in expanding.items():
        assert torch.equal(ours[f"features.5.{flat}"], state[f"features.5.{tv}"]), tv
    assert torch.equal(ours["features.1.conv.3.weight"], state["features.1.conv.1.weight"])
    assert torch.equal(ours["features.1.conv.4.bias"], state["features.1.conv.2.bias"])
    assert torch.equal(ours["fc.weight"], state["classifier.1.weight"])


def test_official_tsm_checkpoint_loads_with_a_new_classifier(model):
    state = tsm_flat_state_dict("module.base_model.", shift_wrapped=True, classifier="new_fc", num_classes=400)
    state = {k.replace("module.base_model.new_fc", "module.new_fc"): v for k, v in state.items()}
    report = load_pretrained(model, {"state_dict": state})
    assert report.source_format == "official TSM" and not report.missing and not report.unexpected
    assert not report.mismatched and any("classifier fc.weight (400, 1280) skipped" in n for n in report.notes)
    assert torch.equal(model.state_dict()["features.16.conv.0.weight"],
                       state["module.base_model.features.16.conv.0.net.weight"])


def test_online_demo_checkpoint_loads_into_the_online_model():
    online = create_model("tsm_mobilenet_v2", num_classes=27, num_frames=8, shift_mode="online")
    state = tsm_flat_state_dict()
    report = load_pretrained(online, state, strict=True)
    assert report.source_format == "TSM online demo" and report.loaded == len(state)
    assert torch.equal(online.state_dict()["fc.bias"], state["classifier.bias"])
    assert get_weights("imagenet", "tsm_mobilenet_v2").name == "mobilenet_v2.imagenet"
    for name in ("mobilenet_v2.imagenet", "tsm_mobilenet_v2.kinetics400_8f_dense", "tsm_mobilenet_v2.jester_online"):
        assert get_weights(name).fits == ("tsm_mobilenet_v2",) and not get_weights(name).inflate
