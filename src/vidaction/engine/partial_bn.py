"""Partial BatchNorm (TSN, Wang et al. 2016, Sec. 3.2): when fine-tuning with small batches, freeze
the statistics and affine parameters of every BatchNorm but the first."""

from __future__ import annotations

from torch import nn

NORM_TYPES = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)


def freeze_partial_bn(model: nn.Module) -> int:
    """Put every BatchNorm except the first in eval mode with frozen affine parameters.

    ``model.train()`` switches them back to training mode, so the trainer calls this after every
    ``train()``. Returns the number of frozen layers.
    """
    norms = [m for m in model.modules() if isinstance(m, NORM_TYPES)]
    for layer in norms[1:]:
        layer.eval()
        for param in layer.parameters():
            param.requires_grad_(False)
    return len(norms[1:])
