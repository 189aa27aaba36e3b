"""Shared references for the model tests."""

import pytest
import torch
import torch.nn.functional as F

from vidaction.models import create_model


def _naive_refinement(model, size, weight, bias):
    """W3's attention-guided feature refinement (eqs. 7-8) without its learnt gate, written out for a
    2D backbone after a forward: the spatial masks ``(N, 1, T, H_j, W_j)`` of ``model.attention_masks()``,
    frame by frame average-pooled to ``size``, concatenated over stages, a 1x1 conv (``weight``,
    ``bias``) and a ReLU: ``(N, C, T, H, W)``."""
    masks = list(model.attention_masks().values())
    n, _, t = masks[0].shape[:3]
    pooled = torch.cat([F.adaptive_avg_pool2d(m.transpose(1, 2).flatten(0, 1), tuple(size)) for m in masks], 1)
    out = torch.relu(F.conv2d(pooled, weight, bias))
    return out.view(n, t, *out.shape[1:]).transpose(1, 2)


@pytest.fixture
def naive_refinement():
    """``naive_refinement(model, size, weight, bias) -> (N, C, T, H, W)``: see :func:`_naive_refinement`."""
    return _naive_refinement


def _refined_and_plain(name, num_frames):
    """``name`` with W3 attention and feature refinement, its gate ``scale`` drawn from N(0, 1) (it
    starts at zero), and the same model without refinement sharing every other weight; both in eval
    mode, built after ``torch.manual_seed(0)``."""
    torch.manual_seed(0)
    refined = create_model(name, num_classes=3, num_frames=num_frames, attention="w3", refine=True).eval()
    with torch.no_grad():
        refined.refine.scale.normal_()
    plain = create_model(name, num_classes=3, num_frames=num_frames, attention="w3").eval()
    plain.load_state_dict({k: v for k, v in refined.state_dict().items() if not k.startswith("refine.")})
    return refined, plain


@pytest.fixture
def refined_and_plain():
    """``refined_and_plain(name, num_frames) -> (refined, plain)``: see :func:`_refined_and_plain`."""
    return _refined_and_plain
