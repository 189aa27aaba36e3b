"""Attention-guided feature refinement (W3, Perez-Rua et al., Sec. 3.4, eqs. 7-8, Fig. 2).

The spatial masks ``M^{s,j}`` of the last attended block of each of the ``N`` attended stages are
adaptive-average-pooled to the last stage's size and concatenated (eq. 7, ``M^ms``: ``N`` channels),
mapped by ``theta_ref``, one 1x1 conv with ``C_l`` kernels and a ReLU, and added to the last stage's
features frame by frame (eq. 8): ``y_i = x_i + f_ref(M^ms_i)``. The pathway is W3's deep supervision
of the attention modules: its output reaches the loss without passing through the backbone.

One module serves 2D backbones (TSN/TSM, frames folded into the batch: the conv is applied to each
frame, as eq. 8) and 3D backbones (I3D: each of the last stage's ``T'`` time steps).

Initialisation (the paper gives none). Eq. 8 adds a new residual term to the last stage, so, as for
every new residual branch of a pretrained network (the non-local block's zero-initialised ``W``,
Wang et al., CVPR 2018, Sec. 4.1; the zero-initialised last BatchNorm of ResNet blocks, Goyal et al.
2017), it starts at zero: ``f_ref = scale * ReLU(W M^ms + b)`` with a per-channel ``scale``
initialised to 0, so ``y = x`` exactly at step 0 and an ImageNet or TSM initialisation is unchanged.
For ``scale >= 0`` this is the paper's conv + ReLU reparametrised (``scale * ReLU(z) = ReLU(scale z)``).
``W`` is Kaiming-initialised as the backbone's convs and ``b = 1``: the masks lie in [0, 1], so
every channel's ReLU is open at step 0 and every ``scale`` receives a gradient; ``W`` and ``b``
receive theirs from the first step on, once ``scale`` has moved. (Zero output and a gradient for
``W`` at step 0 exclude each other: the ReLU passes no gradient where its output is 0.)

Measured with the former init (Kaiming ``W``, PyTorch's default ``b`` in +-1/sqrt(N), no ``scale``;
issue 12: narrow TSM ResNet-18 at 56 px, 8 frames, W3 on stages 1-3, six synthetic motion classes,
480/120 clips, 20 epochs, six seeds): at step 0 the term was a per-channel constant (its spread over
frames and positions 1-2 % of its mean; the frame-to-frame deviation of its pooled channels
0.0005-0.0009 against 0.35-0.40 for the features), its RMS 17-19 % of the last stage's (26 % for
ResNet-50 at 224 px), added to every frame, with 52 % of its channels closed for good. Training
shrank it to 2-5 % of the features' RMS. The pathway carried 0.1-1.5 % of the gradient reaching
each stage's last mask, and the stage-3 spatial masks ended 23-68 % above 0.95 with and without
it, so it did not drive those into saturation. Top-1: 72.9 +- 3.4 % (67.5-77.5) with the former
init, 73.9 +- 1.0 % with this one (TSM alone 73.3 +- 3.3 %, W3 without refinement 71.4 +- 2.5 %,
three seeds each). Learned from zero, the term reached 11 % of the features' RMS and stayed nearly
constant over frames (frame-to-frame deviation 1 % of the features'): after pooling to the last
stage's size the N masks carry little beyond their level.

With this init and masks starting near 0.95, on the demo's data (8 classes, 4 segments, three
seeds, BENCHMARKS.md) the refinement still costs top-1 (67.7 +- 2.1 % against 71.5 +- 2.2 % without
it): there the pathway does move the early masks, whose stage-1 and stage-2 spatial masks end as a
fixed dark square over the frame's centre (means 0.60 and 0.75 against 0.89 and 0.87 without it),
features for the classifier rather than attention.

Checkpoints written before ``scale`` existed hold ``weight`` and ``bias`` only; they load with
``scale = 1``, the function they were trained with.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class AttentionRefinement(nn.Module):
    """``f_ref(M^ms)`` of eqs. 7-8: ``masks: list of (N*T, 1, H_j, W_j) -> (N*T, C_l, H_l, W_l)``
    (``dims=2``), or ``list of (N, 1, T_j, H_j, W_j) -> (N, C_l, T_l, H_l, W_l)`` (``dims=3``).

    Args:
        num_masks: N, the attended stages whose masks are gathered.
        channels: ``C_l``, the last stage's channels.
        dims: 2 for per-frame maps, 3 for spatio-temporal maps.
    """

    def __init__(self, num_masks: int, channels: int, dims: int = 2) -> None:
        super().__init__()
        if dims not in (2, 3):
            raise ValueError(f"dims must be 2 or 3, got {dims}")
        self.dims = dims
        self.weight = nn.Parameter(torch.empty(channels, num_masks, *(1,) * dims))
        self.bias = nn.Parameter(torch.ones(channels))
        self.scale = nn.Parameter(torch.zeros(channels))
        nn.init.kaiming_normal_(self.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, masks: Sequence[Tensor], size: Sequence[int]) -> Tensor:
        pool = F.adaptive_avg_pool2d if self.dims == 2 else F.adaptive_avg_pool3d
        conv = F.conv2d if self.dims == 2 else F.conv3d
        pooled = torch.cat([pool(m, tuple(size)) for m in masks], dim=1)
        return self.scale.view(-1, *(1,) * self.dims) * F.relu(conv(pooled, self.weight, self.bias))

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
                              error_msgs) -> None:
        # Checkpoints from before ``scale`` were trained as y = x + ReLU(W M + b).
        if prefix + "weight" in state_dict and prefix + "scale" not in state_dict:
            state_dict[prefix + "scale"] = torch.ones_like(self.scale)
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
                                      error_msgs)
