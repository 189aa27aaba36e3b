"""W3/CBAM inside TSM blocks and attention-guided feature refinement (W3 eqs. 7-8)."""

import pytest
import torch

from vidaction.models import create_model, load_pretrained
from vidaction.models.attention import CBAM, W3Attention
from vidaction.models.flops import count_macs


@pytest.mark.parametrize("attention, cls", [("w3", W3Attention), ("cbam", CBAM)])
def test_every_block_of_listed_stages_gets_attention(attention, cls):
    model = create_model("tsm_r18", num_classes=3, num_frames=4, base_width=8, attention=attention,
                         attention_stages=(2, 4))
    attended = [name for name, m in model.named_modules() if isinstance(m, cls)]
    assert attended == ["layer2.0.attention", "layer2.1.attention", "layer4.0.attention", "layer4.1.attention"]


@pytest.mark.parametrize("attention", ["w3", "cbam"])
def test_refined_model_shapes_and_gradients(attention):
    torch.manual_seed(0)
    model = create_model("tsm_tiny", num_classes=3, num_frames=4, attention=attention, refine=True)
    with torch.no_grad():
        model.refine.scale.fill_(1.0)  # zero at init: the conv learns once the gate has moved
    model(torch.randn(2, 3, 4, 32, 32)).logsumexp(1).sum().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name
    masks = model.attention_masks()
    assert list(masks) == ["layer1", "layer2", "layer3", "layer4"]
    assert masks["layer2"].shape == (2, 1, 4, 4, 4)


def test_refinement_adds_relu_conv_of_pooled_stage_masks(naive_refinement, refined_and_plain):
    refined, plain = refined_and_plain("tsm_tiny", num_frames=4)
    x = torch.randn(2, 3, 4, 64, 64)
    with torch.no_grad():
        y = refined.forward_features(x)["layer4"]
        base = plain.forward_features(x)["layer4"]
        expected = refined.refine.scale[:, None, None, None] * naive_refinement(
            refined, y.shape[-2:], refined.refine.weight, refined.refine.bias)
    assert torch.allclose(y - base, expected, atol=1e-5)


def test_build_time_errors_name_the_problem():
    with pytest.raises(ValueError, match="refine=True .* needs attention"):
        create_model("tsm_tiny", num_classes=3, num_frames=4, refine=True)
    with pytest.raises(ValueError, match=r"attention_stages \[5\] do not exist"):
        create_model("tsm_tiny", num_classes=3, num_frames=4, attention="w3", attention_stages=(1, 5))
    with pytest.raises(ValueError, match="attention must be"):
        create_model("tsm_tiny", num_classes=3, num_frames=4, attention="se")


@pytest.mark.slow
@pytest.mark.parametrize("frames, attention, paper", [(16, None, 65.0), (16, "cbam", 66.5), (16, "w3", 67.1),
                                                      (8, "w3", 33.5)])
def test_macs_within_three_percent_of_w3_table_6(frames, attention, paper):
    with torch.device("meta"):
        model = create_model("tsm_r50", num_classes=174, num_frames=frames, attention=attention,
                             refine=attention == "w3")
        macs, _ = count_macs(model, (1, 3, frames, 224, 224))
    assert abs(macs / 1e9 - paper) / paper < 0.03


def test_nonlocal_follows_tsm_nl_placement_and_starts_as_identity():
    torch.manual_seed(0)
    nl = create_model("tsm_r50", num_classes=5, num_frames=4, base_width=8, attention="nonlocal").eval()
    wrapped = sorted({name.rsplit(".nl", 1)[0] for name, _ in nl.named_modules() if name.endswith(".nl")})
    assert wrapped == ["layer2.0", "layer2.2", "layer3.0", "layer3.2", "layer3.4"]
    assert "layer2.0.block.conv1.weight" in nl.state_dict()
    assert {"layer2.0.nl.theta.weight", "layer2.0.nl.phi.0.weight", "layer2.0.nl.g.0.weight",
            "layer2.0.nl.W.0.weight", "layer2.0.nl.W.1.weight"} <= set(nl.state_dict())
    plain = create_model("tsm_r50", num_classes=5, num_frames=4, base_width=8).eval()
    report = load_pretrained(nl, plain.state_dict())
    assert not report.unexpected and not report.mismatched
    assert all(".nl." in key for key in report.missing)
    x = torch.randn(1, 3, 4, 64, 64)
    with torch.no_grad():
        assert torch.allclose(nl(x), plain(x), atol=1e-6)


def test_nonlocal_loads_official_tsm_nl_key_layout():
    torch.manual_seed(0)
    model = create_model("tsm_tiny", num_classes=3, num_frames=4, attention="nonlocal")
    official = {f"module.base_model.{k.replace('conv1.weight', 'conv1.net.weight') if k.startswith('layer') else k}": v
                for k, v in model.state_dict().items() if not k.startswith("fc.")}
    official.update({"module.new_fc.weight": model.fc.weight, "module.new_fc.bias": model.fc.bias})
    fresh = create_model("tsm_tiny", num_classes=3, num_frames=4, attention="nonlocal")
    report = load_pretrained(fresh, official, strict=True)
    assert report.clean and report.source_format == "official TSM"


def test_nonlocal_gradients_reach_the_block():
    torch.manual_seed(0)
    model = create_model("tsm_tiny", num_classes=3, num_frames=4, attention="nonlocal", attention_stages=(2,))
    model(torch.randn(2, 3, 4, 32, 32)).logsumexp(1).sum().backward()
    assert model.layer2[0].nl.W[1].weight.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="needs attention='w3' or 'cbam'"):
        create_model("tsm_tiny", num_classes=3, num_frames=4, attention="nonlocal", refine=True)


@pytest.mark.parametrize("attention", ["w3", "cbam"])
def test_feature_map_smaller_than_spatial_kernel_fails_at_build_naming_the_layer(attention):
    with pytest.raises(ValueError, match=r"layer4: a 112x112 input gives 4x4 feature maps, smaller than the 7x7"):
        create_model("tsm_r18", num_classes=3, num_frames=4, attention=attention, input_size=112)
    model = create_model("tsm_r18", num_classes=3, num_frames=4, attention=attention, input_size=112,
                         attention_stages=(1, 2, 3))
    assert model.attention_stages == (1, 2, 3)
    create_model("tsm_r18", num_classes=3, num_frames=4, attention=attention, input_size=112,
                 attention_options={"spatial_kernel": 3})
