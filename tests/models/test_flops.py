"""MAC counting: a single conv equals the formula, on the CPU and on the meta device; TSM adds no MACs to
TSN; ResNet-50 TSM matches the paper."""

import torch
from torch import nn

from vidaction.models import create_model
from vidaction.models.flops import count_macs


class OneConv(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 16, 3, padding=1, bias=False)

    def forward(self, x):
        return self.conv(x[:, :, 0])


def test_single_conv_macs_equal_formula():
    macs, params = count_macs(OneConv(), (1, 3, 1, 10, 12))
    assert params == 16 * 3 * 9
    assert macs == 16 * 3 * 9 * 10 * 12


def test_counting_on_the_meta_device_computes_nothing_and_counts_the_same():
    on_cpu = count_macs(OneConv(), (1, 3, 1, 10, 12))
    with torch.device("meta"):
        model = OneConv()
    assert count_macs(model, (1, 3, 1, 10, 12)) == on_cpu


def test_shift_is_free_and_r50_matches_paper():
    # Full-size networks are counted on the meta device: shapes only, no weights, no arithmetic.
    with torch.device("meta"):
        tsn = count_macs(create_model("tsn_r50", num_classes=400, num_frames=8), (1, 3, 8, 224, 224))
        tsm = count_macs(create_model("tsm_r50", num_classes=400, num_frames=8), (1, 3, 8, 224, 224))
    assert tsn == tsm
    macs, params = tsm
    assert abs(macs / 1e9 - 33.0) / 33.0 < 0.03
    assert abs(params / 1e6 - 24.3) < 0.1
