"""TSM-MobileNetV2 (Lin et al., TSM, ICCV 2019): the backbone of TSM's online recognition (Sec. 5, the
Jetson Nano gesture demo) and of its efficient Kinetics model.

Each of the T frames of a clip ``(N, 3, T, H, W)`` goes through MobileNetV2 (Sandler et al., CVPR 2018)
as a batch of ``(N*T, 3, H, W)`` images; per-frame logits ``(N, T, K)`` are averaged over T, ``(N, K)``::

    features.0      3x3 conv stride 2, BN, ReLU6                    (N, 32, T, 112, 112)  for 224
    features.1..17  inverted residual blocks (t, c, n, s below)     (N, 320, T, 7, 7)
    features.18     1x1 conv, BN, ReLU6                             (N, 1280, T, 7, 7)

An inverted residual block is a 1x1 expansion (t times, skipped when t = 1), a 3x3 depthwise conv
(stride s), a linear 1x1 projection, each followed by BN (ReLU6 after the first two), and the block's
input added back where stride 1 keeps the shape ("use_res_connect"). TSM shifts the input of the
residual branch (before the expansion conv) of every expanding block with a residual connection,
blocks 3, 5, 6, 8, 9, 10, 12, 13, 15 and 16 of ``features``: ``make_temporal_shift`` for
``mobilenetv2`` in the official ``ops/models.py`` (``len(m.conv) == 8 and m.use_res_connect``) and
``shift_block_idx`` of ``online_demo/mobilenet_v2_tsm.py``. ``shift_mode="online"`` is the demo's
uni-directional shift (:class:`~vidaction.models.layers.temporal_shift.TemporalShift`).

Parameter names are TSM's (``features.N.conv.M`` flat, as its ``archs/mobilenet_v2.py``; ``fc`` for
the classifier), so the official TSM MobileNetV2 checkpoints and the online demo's
``mobilenetv2_jester_online.pth.tar`` load key for key, and torchvision's ImageNet MobileNetV2
(``features.N.conv.A.B`` nested conv-BN-ReLU6 groups, ``classifier.1``) through the renaming in
:func:`vidaction.models.pretrained.read_state_dict`. ``feature_info`` names the last output of
each resolution: ``features.1`` (/2), ``features.3`` (/4), ``features.6`` (/8), ``features.13``
(/16) and ``features.18`` (/32, the classifier's input).
"""

from __future__ import annotations

from torch import Tensor, nn

from vidaction.config import IMAGENET_MEAN, IMAGENET_STD
from vidaction.models.heads.classifier import NumClasses, VideoClassifier
from vidaction.models.layers.temporal_shift import TemporalShift
from vidaction.models.registry import register_model

# (expansion t, channels c, blocks n, stride of the first s), MobileNetV2's Table 2.
INVERTED_RESIDUAL_SETTING = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
                             (6, 160, 3, 2), (6, 320, 1, 1))
STEM_CHANNELS, LAST_CHANNELS = 32, 1280


def make_divisible(value: float, divisor: int = 8) -> int:
    """``value`` rounded to a multiple of ``divisor``, never more than 10% below it (torchvision's rule)."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


def _conv_bn_relu6(in_channels: int, out_channels: int, kernel: int, stride: int = 1,
                   groups: int = 1) -> list[nn.Module]:
    return [nn.Conv2d(in_channels, out_channels, kernel, stride, kernel // 2, groups=groups, bias=False),
            nn.BatchNorm2d(out_channels), nn.ReLU6(inplace=True)]


class InvertedResidual(nn.Module):
    """``(N*T, C_in, H, W) -> (N*T, C_out, H / s, W / s)``; ``shift`` (TSM's, if any) acts on the
    residual branch's input, the added identity stays unshifted (TSM's "blockres")."""

    def __init__(self, in_channels: int, out_channels: int, stride: int, expand_ratio: int,
                 shift: nn.Module | None = None) -> None:
        super().__init__()
        hidden = round(in_channels * expand_ratio)
        self.use_res_connect = stride == 1 and in_channels == out_channels
        layers = _conv_bn_relu6(in_channels, hidden, 1) if expand_ratio != 1 else []
        layers += [*_conv_bn_relu6(hidden, hidden, 3, stride, groups=hidden),
                   nn.Conv2d(hidden, out_channels, 1, bias=False), nn.BatchNorm2d(out_channels)]
        self.shift = shift
        self.conv = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        out = self.conv(self.shift(x) if self.shift is not None else x)
        return x + out if self.use_res_connect else out


class MobileNetV2TSM(VideoClassifier):
    """TSM-MobileNetV2: ``(N, C_in, T, H, W) -> (N, num_classes)``.

    Args:
        num_classes: classifier size K, or one size per head (scores side by side, head order).
        num_frames: T, the clip length the temporal shift mixes over.
        dropout: dropout before the classifier.
        shift_div: 1/shift_div of the channels shift (each way when bidirectional; 8 in TSM).
        shift_mode: ``"bidirectional"`` (offline TSM) or ``"online"`` (one fold from the previous frame).
        width_mult: MobileNetV2's width multiplier (channels rounded to multiples of 8; the last
            conv keeps 1280 below 1.0); 1.0 for published weights, small for tests.
        in_channels: input channels (3 for RGB).
        input_size: frame side the model is built for (recorded in ``pretrained_cfg``).
    """

    # TSN/TSM initialise the new classifier with std 0.001 so fine-tuning starts near uniform scores.
    classifier_init_std = 0.001

    def __init__(self, num_classes: NumClasses, num_frames: int, dropout: float = 0.5, shift_div: int = 8,
                 shift_mode: str = "bidirectional", width_mult: float = 1.0, in_channels: int = 3,
                 input_size: int = 224) -> None:
        if num_frames < 1:
            raise ValueError(f"num_frames must be >= 1, got {num_frames}")
        if width_mult <= 0:
            raise ValueError(f"width_mult must be positive, got {width_mult}")
        super().__init__()
        self.num_frames = num_frames
        self.in_channels = in_channels
        channels = make_divisible(STEM_CHANNELS * width_mult)
        layers: list[nn.Module] = [nn.Sequential(*_conv_bn_relu6(in_channels, channels, 3, 2))]
        reductions, reduction = [2], 2
        for expand_ratio, width, count, first_stride in INVERTED_RESIDUAL_SETTING:
            out_channels = make_divisible(width * width_mult)
            for position in range(count):
                stride = first_stride if position == 0 else 1
                shifted = expand_ratio != 1 and stride == 1 and channels == out_channels
                shift = TemporalShift(num_frames, shift_div, shift_mode) if shifted else None
                layers.append(InvertedResidual(channels, out_channels, stride, expand_ratio, shift))
                channels, reduction = out_channels, reduction * stride
                reductions.append(reduction)
        last = make_divisible(LAST_CHANNELS * max(1.0, width_mult))
        layers.append(nn.Sequential(*_conv_bn_relu6(channels, last, 1)))
        reductions.append(reduction)
        self.features = nn.Sequential(*layers)
        # The last output at each resolution, and the classifier's input.
        ends = [i for i in range(1, len(layers) - 1) if reductions[i + 1] != reductions[i]] + [len(layers) - 1]
        self.feature_info = [dict(num_chs=_out_channels(layers[i]), reduction_t=1, reduction_s=reductions[i],
                                  name=f"features.{i}") for i in ends]
        self.stage_names = [info["name"] for info in self.feature_info]
        self.add_classifier(last, num_classes, dropout)
        self.pretrained_cfg = dict(mean=list(IMAGENET_MEAN), std=list(IMAGENET_STD), num_frames=num_frames,
                                   input_size=input_size, class_names=None)
        self._init_weights()

    def _init_weights(self) -> None:
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out")
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
        self.init_classifier()

    def _check_input(self, x: Tensor) -> None:
        if x.dim() != 5 or x.shape[1] != self.in_channels:
            raise ValueError(f"expected a clip (N, {self.in_channels}, T, H, W), got {tuple(x.shape)}")
        if x.shape[2] != self.num_frames:
            raise ValueError(f"TSM was built for T={self.num_frames} frames, got a clip of {x.shape[2]}")

    def forward_features(self, x: Tensor) -> dict[str, Tensor]:
        """The outputs named in ``feature_info``, each ``(N, C, T, H', W')`` (a view)."""
        self._check_input(x)
        n, c, t, h, w = x.shape
        out = x.transpose(1, 2).reshape(n * t, c, h, w)
        features = {}
        for index, layer in enumerate(self.features):
            out = layer(out)
            name = f"features.{index}"
            if name in self.stage_names:
                features[name] = out
        return {k: v.view(n, t, *v.shape[1:]).transpose(1, 2) for k, v in features.items()}


def _out_channels(layer: nn.Module) -> int:
    return [m for m in layer.modules() if isinstance(m, nn.BatchNorm2d)][-1].num_features


@register_model
def tsm_mobilenet_v2(num_classes: NumClasses, num_frames: int, dropout: float = 0.5, shift_div: int = 8,
                     shift_mode: str = "bidirectional", width_mult: float = 1.0, in_channels: int = 3,
                     input_size: int = 224) -> MobileNetV2TSM:
    """TSM (blockres shift in the residual inverted-residual blocks) with a MobileNetV2 backbone;
    ``shift_mode="online"`` is TSM's online model."""
    return MobileNetV2TSM(**locals())
