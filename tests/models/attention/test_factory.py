"""The attention factory (``create_attention``): the block of each kind, none for None / "", both
feature layouts, gradients, and errors that list what is known."""

import pytest
import torch

from vidaction.models.attention import CBAM, NonLocalBlock, W3Attention
from vidaction.models.attention.factory import ATTENTION_KINDS, check_attention_fits, create_attention


@pytest.mark.parametrize("kind, cls", [("w3", W3Attention), ("cbam", CBAM), ("nonlocal", NonLocalBlock)])
def test_each_kind_builds_its_block_in_both_layouts(kind, cls):
    torch.manual_seed(0)
    block = create_attention(kind, 8, num_frames=4, reduction=2)
    assert type(block) is cls
    frames = torch.randn(2 * 4, 8, 6, 6, requires_grad=True)
    out = block(frames)
    assert out.shape == frames.shape
    out.square().sum().backward()
    assert frames.grad.abs().sum() > 0
    assert all(p.grad is not None for p in block.parameters())
    clip = torch.randn(2, 8, 4, 6, 6)
    assert create_attention(kind, 8, reduction=2)(clip).shape == clip.shape


@pytest.mark.parametrize("kind", [None, ""])
def test_no_kind_gives_no_block(kind):
    assert create_attention(kind, 8) is None


def test_blocks_equal_their_classes_built_directly():
    torch.manual_seed(0)
    made = create_attention("w3", 16, num_frames=4, reduction=4, options={"temporal_mode": "dense"})
    torch.manual_seed(0)
    direct = W3Attention(16, 4, 4, temporal_mode="dense")
    assert made.state_dict().keys() == direct.state_dict().keys()
    assert all(torch.equal(a, b) for a, b in zip(made.state_dict().values(), direct.state_dict().values()))
    x = torch.randn(1, 16, 4, 8, 8)
    assert torch.equal(made(x), direct(x))


def test_inplace_is_a_default_that_options_override():
    assert create_attention("cbam", 8, inplace=True).inplace
    assert not create_attention("cbam", 8, inplace=True, options={"inplace": False}).inplace
    assert not create_attention("w3", 8).inplace


def test_unknown_kind_and_options_are_explained():
    with pytest.raises(ValueError, match=r"attention must be one of \[None, 'w3', 'cbam', 'nonlocal'\].*'se'"):
        create_attention("se", 8)
    assert ATTENTION_KINDS == (None, "w3", "cbam", "nonlocal")
    with pytest.raises(ValueError, match=r"do not fit 'nonlocal' at layer2\.1: .*reduction_ratio"):
        create_attention("nonlocal", 8, options={"reduction_ratio": 2}, where="layer2.1")


def test_spatial_kernel_check_names_the_stage():
    check_attention_fits("nonlocal", {}, {"layer4": 2}, 64)
    check_attention_fits("w3", {"spatial_kernel": 3}, {"layer4": 4}, 112)
    with pytest.raises(ValueError, match="layer4: a 112x112 input gives 4x4 feature maps, smaller than the 7x7"):
        check_attention_fits("cbam", {}, {"layer3": 7, "layer4": 4}, 112)
