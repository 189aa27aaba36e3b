"""Parameters and multiply-accumulates (MACs) with ``torch.utils.flop_counter``.

Papers in this field quote "GFLOPs" that are MACs (one multiply-add = 1), so this reports torch's
FLOP count divided by two. Like fvcore, only convolutions and matrix products are counted;
pooling, normalisation, activations and element-wise products (e.g. attention masks) are not.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode


def count_macs(model: nn.Module, input_shape: tuple[int, ...], extra_inputs: tuple = ()) -> tuple[int, int]:
    """``(macs, params)`` of one eval-mode forward of ``model`` on zeros of ``input_shape`` (on the
    model's device), followed by ``extra_inputs`` (e.g. a detector's validity mask)."""
    params = sum(p.numel() for p in model.parameters())
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            model(torch.zeros(input_shape, device=device), *(x.to(device) for x in extra_inputs))
    finally:
        model.train(was_training)
    return counter.get_total_flops() // 2, params
