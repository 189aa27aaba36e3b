"""The model kinds every export is tested on, tiny, with random weights in every part (:func:`perturbed`):
``build(kind)`` -> an :class:`~vidaction.export.ExportSource` and its export options."""

import pytest
import torch
from torch import nn

from vidaction.export import ExportSource
from vidaction.models import create_model

# Attention on the first two stages with a 3x3 spatial kernel.
SMALL_ATTENTION = {"attention_stages": [1, 2], "attention_options": {"spatial_kernel": 3}}
DETECTOR = {"input_channels": 16, "channels": 16, "proposal_channels": 16, "frame_channels": 16, "num_levels": 2,
            "tower_layers": 1, "norm_groups": 4}
TINY_GAF = {"attention_channels": 16, "norm_groups": 4, "cvae_channels": 8, "cvae_hidden": 16, "latent_size": 4}
# kind -> (registered name, clip length or detector window, frame side, builder options). W3's
# refinement pools masks to the last stage's size: 2x2 from 10x10 and 5x5 (40 px, uneven windows),
# 2x2x2 from 16x16 and 8x8 maps (64 px).
KINDS = {
    "tsm": ("tsm_tiny", 4, 32, {}),
    "tsm_w3_refine": ("tsm_tiny", 4, 40, {"attention": "w3", "refine": True, "input_size": 40, **SMALL_ATTENTION}),
    "tsm_cbam": ("tsm_tiny", 4, 32, {"attention": "cbam", "input_size": 32, **SMALL_ATTENTION}),
    "tsn_nonlocal": ("tsn_tiny", 4, 32, {"attention": "nonlocal"}),
    "tsm_mobilenet_v2_online": ("tsm_mobilenet_v2", 4, 32, {"width_mult": 0.25, "shift_mode": "online"}),
    "i3d_r50_w3_refine": ("i3d_tiny", 8, 64, {"attention": "w3", "refine": True, "input_size": 64, **SMALL_ATTENTION}),
    "inception_i3d": ("inception_i3d_tiny", 8, 32, {}),
    "r2d_pmb": ("r2d_tiny", 8, 32, {"motion": "pmb", "motion_max_displacement": 2}),
    "r2plus1d_pmb": ("r2plus1d_tiny", 8, 32, {"motion": "pmb", "motion_max_displacement": 2}),
    "gaf_tsm": ("gaf_classifier", 4, 32, {"backbone": "tsm_tiny"}),
    "afsd": ("afsd", 32, None, DETECTOR),
    "afsd_gaf": ("afsd", 32, None, {**DETECTOR, "attention": "gaf", "attention_options": TINY_GAF}),
}


def perturbed(model: nn.Module, example: tuple) -> nn.Module:
    """``model`` in eval mode, its zero-initialised parameters (W3's refinement gate, the non-local
    block's last BatchNorm, biases) drawn from N(0, 0.5), N(0, 0.02) added to the others, and
    BatchNorm statistics of ``example`` (at least 0.1), so that outputs stay near 1 and the float32
    rounding of the networks stays far below 1e-4 (6.5e-6 for Inception-I3D, PyTorch against float64)."""
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for parameter in model.parameters():
            if parameter.any():
                parameter.add_(0.02 * torch.randn(parameter.shape, generator=generator))
            else:
                parameter.normal_(0.0, 0.5, generator=generator)
        for module in model.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.reset_running_stats()
                module.momentum = None
        model.train()(*example)
        for module in model.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.running_var.clamp_(min=0.1)
    return model.eval()


def build(kind: str) -> tuple[ExportSource, dict]:
    """The kind's network as an export source, and ``export_model``'s ``frames`` / ``size``."""
    name, frames, size, options = KINDS[kind]
    torch.manual_seed(0)
    if name == "afsd":
        example = (torch.randn(2, DETECTOR["input_channels"], frames), torch.ones(2, frames, dtype=torch.bool))
        model = perturbed(create_model(name, 3, **options), example)
        return ExportSource(model, "detection", ["a", "b", "c"]), {"frames": frames}
    model = perturbed(create_model(name, num_classes=3, num_frames=frames, **options),
                      (torch.randn(8, 3, frames, size, size),))
    source = ExportSource(model, "recognition", ["a", "b", "c"], {"mean": [0.5] * 3, "std": [0.25] * 3})
    return source, {"frames": frames, "size": size}


@pytest.fixture(scope="module")
def source_of():
    """``source_of(kind) -> (ExportSource, options)``, each kind built once per module."""
    built = {}

    def get(kind: str) -> tuple[ExportSource, dict]:
        if kind not in built:
            built[kind] = build(kind)
        return built[kind]
    return get
