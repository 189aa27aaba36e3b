"""The export-friendly equivalents give the originals' numbers: TSM's shift (both modes), W3's
per-frame 3D convolution and AFSD's boundary max pooling exactly, GAF's scores-only classifier to
float rounding; ``traceable`` swaps functions in and always restores them; and the export graph of
every registered recognition network (HCML's training network deployed) computes what the network does."""

from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from tests.models.test_registry_sweep import CLASSIFIERS, tiny
from vidaction.export import export_graph, traceable
from vidaction.export import layers
from vidaction.export.prepare import FUNCTION_SWAPS, ScoresOnlyGAFClassifier
from vidaction.models import create_model
from vidaction.models.attention import w3
from vidaction.models.layers import boundary_pooling
from vidaction.models.layers.temporal_shift import TemporalShift


@pytest.mark.parametrize("mode", ["bidirectional", "online"])
@pytest.mark.parametrize("frames, fold_div, channels", [(4, 8, 16), (3, 4, 10), (1, 2, 4), (5, 8, 7)])
def test_concatenated_shift_equals_the_temporal_shift(mode, frames, fold_div, channels):
    torch.manual_seed(frames)
    x = torch.randn(2 * frames, channels, 3, 5)
    original = TemporalShift(frames, fold_div, mode)
    assert torch.equal(layers.ConcatTemporalShift.like(original)(x), original(x))


def test_a_shift_module_without_a_mode_is_bidirectional():
    shift = layers.ConcatTemporalShift.like(SimpleNamespace(num_frames=4, fold_div=8))
    assert shift.mode == "bidirectional" and shift.num_frames == 4 and shift.fold_div == 8
    with pytest.raises(ValueError, match="shift mode must be one of bidirectional, online"):
        layers.ConcatTemporalShift(4, 8, "backward")


@pytest.mark.parametrize("channels, kernel", [(2, (1, 7, 7)), (4, (3, 3, 3)), (1, (3, 5, 5))])
def test_stacked_frame_convolution_equals_w3s(channels, kernel):
    torch.manual_seed(channels)
    conv = nn.Conv3d(channels, 3, kernel, padding=tuple(k // 2 for k in kernel))
    x = torch.randn(2, channels, 5, 8, 9)
    assert torch.equal(layers.conv3d_by_frames(x, conv), w3.conv3d_by_frames(x, conv))


@pytest.mark.parametrize("steps", [1, 2, 9, 32])
def test_masked_maximum_equals_the_sparse_table_pooling(steps):
    torch.manual_seed(steps)
    features = torch.randn(3, 6, steps)
    segments = torch.rand(3, 11, 2) * (steps + 8) - 4  # fractional, negative, past the end, some end < start
    segments[0, :3] = torch.tensor([[float("nan"), 2.0], [-float("inf"), float("inf")], [3.0, float("nan")]])
    lengths = torch.tensor([steps, max(1, steps // 2), 1])
    ends = torch.rand(3, 11, 2) * steps
    assert torch.equal(layers.boundary_max_pool(features, segments, lengths),
                       boundary_pooling.boundary_max_pool(features, segments, lengths))
    assert torch.equal(layers.start_end_max_pool(features, segments, ends, lengths),
                       boundary_pooling.start_end_max_pool(features, segments, ends, lengths))


def test_the_mask_check_reads_shapes_only():
    layers.check_mask(torch.zeros(2, 5, dtype=torch.bool))  # values are the caller's to keep
    with pytest.raises(ValueError, match=r"must be a \(B, T\) bool tensor"):
        layers.check_mask(torch.ones(2, 5))


def test_traceable_swaps_the_functions_and_restores_them_after_an_error():
    originals = [getattr(module, name) for module, name, _ in FUNCTION_SWAPS]
    with pytest.raises(RuntimeError, match="inside"), traceable():
        assert all(getattr(module, name) is swap for module, name, swap in FUNCTION_SWAPS)
        raise RuntimeError("inside")
    assert [getattr(module, name) for module, name, _ in FUNCTION_SWAPS] == originals


@pytest.mark.parametrize("name", CLASSIFIERS + ["hcml"])
def test_the_export_graph_of_every_registered_network_computes_its_scores(name):
    torch.manual_seed(0)
    model = tiny(name, num_classes=3).eval()
    x = torch.randn(2, 3, 8, 32, 32)
    graph = export_graph(model)
    with torch.no_grad(), traceable():
        got = graph(x)
    with torch.no_grad():
        expected = model(x)
    assert torch.allclose(got, expected, rtol=0, atol=1e-6)
    assert not any(isinstance(m, TemporalShift) for m in graph.modules())
    assert any(isinstance(m, TemporalShift) for m in model.modules()) == name.startswith(("tsm", "gaf_tsm"))


def test_gaf_scores_alone_equal_its_scores_with_a_classifier_of_its_own():
    torch.manual_seed(0)
    model = create_model("gaf_classifier", num_classes=3, num_frames=4, backbone="tsm_tiny", stage="layer3").eval()
    scores_only = create_model("gaf_classifier", num_classes=3, num_frames=4, backbone="tsm_tiny", stage="layer3")
    scores_only.load_state_dict(model.state_dict())
    scores_only.__class__ = ScoresOnlyGAFClassifier
    x = torch.randn(2, 3, 4, 32, 32)
    with torch.no_grad():
        assert torch.allclose(scores_only.eval()(x), model(x), rtol=0, atol=1e-6)


@pytest.mark.parametrize("in_size, size", [((10, 5), (2, 2)), ((7, 9), (3, 4)), ((4, 8, 8), (2, 2, 2)),
                                           ((5, 6, 7), (2, 3, 3))])
def test_pooling_by_matrices_equals_adaptive_average_pooling(in_size, size):
    torch.manual_seed(len(in_size))
    x = torch.randn(2, 3, *in_size)
    pool = F.adaptive_avg_pool2d if len(size) == 2 else F.adaptive_avg_pool3d
    assert torch.allclose(layers.adaptive_avg_pool(x, size), pool(x, size), rtol=0, atol=1e-6)
