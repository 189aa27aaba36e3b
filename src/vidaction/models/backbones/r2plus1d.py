"""R2D-50 and R(2+1)D-101 as HCML modifies them (Yang et al., ECCV 2020, "Hierarchical Contrastive
Motion Learning for Video Action Recognition", Sec. 4.1, appendix A.1 and its Table 5).

Both are bottleneck ResNets on clips ``(N, C, T, H, W)``: R2D-50 has ResNet-50's 3, 4, 6, 3 blocks
and no temporal kernel at all; R(2+1)D-101 has ResNet-101's 3, 4, 23, 3 blocks and a temporal conv
only in res4 and res5 (the "top-heavy" design of S3D). Table 5, whose row names are our feature
names (conv1's output is ``"stem"``)::

    layer  R2D-50                                R(2+1)D-101                                       output
    conv1  1x7x7, 64, stride 1x2x2               same                                              T   x 112 x 112
    res2   [1x1x1, 64; 1x3x3, 64; 1x1x1, 256]x3  same                                              T   x 56 x 56
    res3   [1x1x1,128; 1x3x3,128; 1x1x1, 512]x4  same                                              T/2 x 28 x 28
    res4   [1x1x1,256; 1x3x3,256; 1x1x1,1024]x6  [1x1x1,256; (3x1x1,256); 1x3x3,256; 1x1x1,1024]x23  T/4 x 14 x 14
    res5   [1x1x1,512; 1x3x3,512; 1x1x1,2048]x3  [1x1x1,512; (3x1x1,512); 1x3x3,512; 1x1x1,2048]x3   T/4 x 7 x 7

HCML trains R2D-50 on 16-frame and R(2+1)D-101 on 32-frame clips (appendix B.2).

What Table 5 leaves open, and how it is settled here:

- Max pool. Table 5 lists none, yet res2's blocks have no stride and still halve conv1's 112 side.
  As in ResNet's conv2_x (He et al., CVPR 2016, Table 1), a ``1x3x3`` max pool with stride ``1x2x2``
  opens res2 (``self.maxpool``, applied before ``layer1``), so ImageNet weights see the maps they
  were trained on. ``"stem"`` is conv1's output, Table 5's ``T x 112 x 112``.
- Strides. The first block of res3, res4 and res5 halves H and W (on its ``1x3x3`` conv, ResNet
  v1.5, and on its ``1x1x1`` shortcut). "We start temporal striding from res3 rather than res4": the
  first block of res3 and of res4 also halves T, which gives Table 5's T, T/2, T/4, T/4. A block
  with a temporal conv (res4 of R(2+1)D) strides time there, the ``3x1x1`` kernel (padding 1)
  seeing every frame; otherwise the ``1x3x3`` conv does, and a kernel one frame long with stride 2
  keeps frames 0, 2, 4, ...: R2D-50 is exactly a 2D ResNet-50 whose res3 sees frames ``[::2]`` and
  whose res4/res5 see frames ``[::4]``. Shortcuts keep the same frames. An odd length rounds up
  (``ceil(T / 2)``), so a multiple of 4 keeps ``feature_info``'s reductions exact.
- (2+1)D factorisation. The ``3x1x1`` temporal conv sits where Table 5 lists it, between the first
  ``1x1x1`` and the ``1x3x3`` conv (Tran et al. put the temporal conv after the spatial one), and
  keeps the bottleneck width (256 in res4, 512 in res5): the "bottleneck layers with consistent
  number of channels" of A.1, not Tran et al.'s ``M_i = floor(t d^2 N_{i-1} N_i / (d^2 N_{i-1} + t N_i))``
  that matches a full ``3x3x3`` kernel's parameters. BN and ReLU follow every conv, the last
  ReLU after the residual addition.
- Head. Each of res5's T/4 time steps is averaged over space and classified, and the scores are
  averaged (:meth:`R2Plus1D.frame_logits`, as the other backbones do); the classifier being linear,
  this equals global average pooling, dropout and fc (SlowFast's head, the recipe HCML follows) at
  test time.
- Initialisation: Kaiming (fan-out) convs, BN to (1, 0), classifier N(0, 0.01) as SlowFast. Its
  zero-initialised last BN of each block is not used, so every parameter has a gradient from the
  first step.

Each stage is an ``nn.Sequential`` (``layer1``..``layer4`` = res2..res5) whose output is the stage's
feature, so HCML's prime motion block (a residual block after res2, res3 and res4, appendix A.3)
is added by appending to it, e.g. ``model.layer1.append(block)``; it must keep ``(N, C, T, H, W)``.

Parameter names follow torchvision's ResNet (``conv1``, ``bn1``, ``layer1.0.conv1``,
``layerX.0.downsample.0``, ``fc``; R(2+1)D's temporal convs are ``temporal_conv`` /
``temporal_bn``), so :func:`state_dict_from_2d` turns ImageNet ResNet (or TSN) weights into ours
key for key.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from torch import Tensor, nn

from vidaction.config import IMAGENET_MEAN, IMAGENET_STD
from vidaction.models.motion.cost_volume import cost_volume_displacements
from vidaction.models.motion.prime_motion import PrimeMotionBlock
from vidaction.models.pretrained import read_state_dict
from vidaction.models.registry import register_model

STAGE_NAMES = ("res2", "res3", "res4", "res5")
# Table 5's output sizes: T, T/2, T/4, T/4 and 56, 28, 14, 7 for a 224 input.
TEMPORAL_STRIDES = (1, 2, 2, 1)
SPATIAL_STRIDES = (1, 2, 2, 2)
TOP_HEAVY = ("res4", "res5")


def _conv(in_channels: int, out_channels: int, kernel: tuple[int, int, int], stride: tuple[int, int, int] = (1, 1, 1),
          padding: tuple[int, int, int] = (0, 0, 0)) -> nn.Conv3d:
    conv = nn.Conv3d(in_channels, out_channels, kernel, stride, padding, bias=False)
    nn.init.kaiming_normal_(conv.weight, mode="fan_out", nonlinearity="relu")
    return conv


class Bottleneck2Plus1d(nn.Module):
    """Table 5's bottleneck: ``1x1x1 -> (3x1x1) -> 1x3x3 -> 1x1x1``, the temporal conv only if
    ``temporal``: ``(N, C_in, T, H, W) -> (N, 4C, T/s_t, H/s, W/s)``.

    Args:
        in_channels: C_in.
        channels: C, the width of the bottleneck's inner convs (the temporal one included).
        stride: spatial stride s (on the ``1x3x3`` conv).
        temporal_stride: s_t, on the ``3x1x1`` conv if there is one, else on the ``1x3x3`` conv.
        temporal: add the ``3x1x1`` conv of R(2+1)D.
    """

    expansion = 4

    def __init__(self, in_channels: int, channels: int, stride: int, temporal_stride: int, temporal: bool) -> None:
        super().__init__()
        self.conv1 = _conv(in_channels, channels, (1, 1, 1))
        self.bn1 = nn.BatchNorm3d(channels)
        self.temporal_conv = None
        self.temporal_bn = None
        spatial_stride_t = temporal_stride
        if temporal:
            self.temporal_conv = _conv(channels, channels, (3, 1, 1), (temporal_stride, 1, 1), (1, 0, 0))
            self.temporal_bn = nn.BatchNorm3d(channels)
            spatial_stride_t = 1
        self.conv2 = _conv(channels, channels, (1, 3, 3), (spatial_stride_t, stride, stride), (0, 1, 1))
        self.bn2 = nn.BatchNorm3d(channels)
        self.conv3 = _conv(channels, channels * 4, (1, 1, 1))
        self.bn3 = nn.BatchNorm3d(channels * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or temporal_stride != 1 or in_channels != channels * 4:
            self.downsample = nn.Sequential(
                _conv(in_channels, channels * 4, (1, 1, 1), (temporal_stride, stride, stride)),
                nn.BatchNorm3d(channels * 4))

    def residual(self, x: Tensor) -> Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        if self.temporal_conv is not None:
            out = self.relu(self.temporal_bn(self.temporal_conv(out)))
        out = self.relu(self.bn2(self.conv2(out)))
        return self.bn3(self.conv3(out))

    def forward(self, x: Tensor) -> Tensor:
        identity = self.downsample(x) if self.downsample is not None else x
        return self.relu(self.residual(x) + identity)


class R2Plus1D(nn.Module):
    """HCML's R2D / R(2+1)D ResNet: ``(N, C_in, T, H, W) -> (N, num_classes)``, any ``T >= 1``.

    Args:
        layers: blocks per stage res2..res5, e.g. ``(3, 4, 6, 3)`` for R2D-50.
        temporal_stages: stages whose blocks get the ``3x1x1`` conv: ``()`` for R2D,
            ``("res4", "res5")`` for R(2+1)D.
        num_classes: classifier size K, or one size per head (scores side by side, head order).
        num_frames: T the model is built for (recorded in ``pretrained_cfg``); any ``T >= 1`` runs.
        dropout: dropout before the classifier.
        base_width: channels of conv1 and of res2's inner convs (64 in Table 5); narrow for CPU.
        in_channels: input channels (3 for RGB).
        motion: ``"pmb"`` appends HCML's :class:`PrimeMotionBlock` to the stages in
            ``motion_levels`` (``Z^l = F^l + g^l(P^l)``, Sec. 3.4), ``None`` for the plain backbone.
        motion_levels: stages whose output gets a prime motion block; the default res2, res3, res4
            are HCML's levels 1, 2, 3 (Sec. 4.2, Table 1).
        motion_reduction: beta, the channel reduction of the prime motion blocks (8); their motion
            features ``P`` have ``2 C / beta`` channels, the choice that reproduces Table 2's MAC
            ratios (the paper does not give it).
        motion_max_displacement, motion_stride: d and s of the blocks' cost volumes (6 and 2, A.3).
        input_size: the frame side the model is built for, if known: every motion level's feature
            map must be at least as large as the cost volume's ``(2r + 1) x (2r + 1)`` search window
            (``r = s * floor(d / s)``), otherwise most displacements fall outside the map; checked here.

    Raises ``ValueError`` at build time, naming the level, when a motion level would see fewer than
    two frames (the cost volume pairs adjacent frames) or, with ``input_size``, a map smaller than
    the search window.
    """

    def __init__(self, layers: tuple[int, ...], temporal_stages: tuple[str, ...],
                 num_classes: int | tuple[int, ...], num_frames: int, dropout: float = 0.5, base_width: int = 64,
                 in_channels: int = 3, motion: str | None = None,
                 motion_levels: tuple[str, ...] = ("res2", "res3", "res4"), motion_reduction: int = 8,
                 motion_max_displacement: int = 6, motion_stride: int = 2, input_size: int | None = None) -> None:
        super().__init__()
        if motion not in (None, "pmb"):
            raise ValueError(f"motion must be None or 'pmb', got {motion!r}")
        bad_levels = [name for name in motion_levels if name not in STAGE_NAMES]
        if motion and bad_levels:
            raise ValueError(f"motion_levels {bad_levels} are not stages; choose among {list(STAGE_NAMES)}")
        if len(layers) != len(STAGE_NAMES) or min(layers) < 1:
            raise ValueError(f"layers must give res2..res5 at least one block each, got {tuple(layers)}")
        unknown = [name for name in temporal_stages if name not in STAGE_NAMES]
        if unknown:
            raise ValueError(f"temporal_stages {unknown} are not stages; choose among {list(STAGE_NAMES)}")
        if num_frames < 1:
            raise ValueError(f"num_frames must be >= 1, got {num_frames}")
        if motion:
            _check_motion_levels(motion_levels, num_frames, input_size, motion_max_displacement, motion_stride)
        self.num_frames = num_frames
        self.in_channels = in_channels
        self.temporal_stages = tuple(temporal_stages)
        self.conv1 = _conv(in_channels, base_width, (1, 7, 7), (1, 2, 2), (0, 3, 3))
        self.bn1 = nn.BatchNorm3d(base_width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool3d((1, 3, 3), (1, 2, 2), (0, 1, 1))
        self.feature_info = [dict(num_chs=base_width, reduction_t=1, reduction_s=2, name="stem")]
        channels, reduction_t, reduction_s = base_width, 1, 4
        for index, (name, count) in enumerate(zip(STAGE_NAMES, layers)):
            width = base_width * 2 ** index
            stride, temporal_stride = SPATIAL_STRIDES[index], TEMPORAL_STRIDES[index]
            reduction_t, reduction_s = reduction_t * temporal_stride, reduction_s * stride
            stage = []
            for position in range(count):
                first = position == 0
                stage.append(Bottleneck2Plus1d(channels, width, stride if first else 1,
                                               temporal_stride if first else 1, name in self.temporal_stages))
                channels = width * Bottleneck2Plus1d.expansion
            if motion and name in motion_levels:
                reduced = max(channels // motion_reduction, 1)
                stage.append(PrimeMotionBlock(channels, reduction=motion_reduction, motion_channels=2 * reduced,
                                              max_displacement=motion_max_displacement, stride=motion_stride))
            self.add_module(f"layer{index + 1}", nn.Sequential(*stage))
            self.feature_info.append(dict(num_chs=channels, reduction_t=reduction_t, reduction_s=reduction_s,
                                          name=name))
        self.stage_names = [info["name"] for info in self.feature_info]
        self.motion_levels = tuple(name for name in STAGE_NAMES if motion and name in motion_levels)
        self.num_features = channels
        self.dropout = nn.Dropout(dropout)
        self.head_sizes = tuple(num_classes) if isinstance(num_classes, (tuple, list)) else (num_classes,)
        self.fc = nn.Linear(channels, sum(self.head_sizes))
        self.pretrained_cfg = dict(mean=list(IMAGENET_MEAN), std=list(IMAGENET_STD), num_frames=num_frames,
                                   input_size=224, class_names=None)
        self._init_classifier()

    def _init_classifier(self) -> None:
        # SlowFast's head: fc weights N(0, 0.01).
        nn.init.normal_(self.fc.weight, 0.0, 0.01)
        nn.init.zeros_(self.fc.bias)

    def _check_input(self, x: Tensor) -> None:
        if x.dim() != 5 or x.shape[1] != self.in_channels:
            raise ValueError(f"expected a clip (N, {self.in_channels}, T, H, W), got {tuple(x.shape)}")
        if 0 in x.shape[2:]:
            raise ValueError(f"the clip has an empty dimension: (T, H, W) = {tuple(x.shape[2:])}")

    def forward_features(self, x: Tensor) -> dict[str, Tensor]:
        """Stage outputs ``{"stem", "res2".."res5"}``, each ``(N, C_j, T_j, H_j, W_j)`` (Table 5)."""
        self._check_input(x)
        stem = self.relu(self.bn1(self.conv1(x)))
        features = {"stem": stem}
        out = self.maxpool(stem)
        for index, name in enumerate(STAGE_NAMES):
            out = getattr(self, f"layer{index + 1}")(out)
            features[name] = out
        return features

    def modules_through(self, stage: str) -> list[nn.Module]:
        """The modules that compute ``stage``'s output, input side first: ``conv1``, ``bn1``,
        ``layer1`` .. the stage's layer (``"stem"`` is ``conv1`` and ``bn1`` alone)."""
        if stage not in self.stage_names:
            raise ValueError(f"unknown stage {stage!r}; stages are {self.stage_names}")
        stem: list[nn.Module] = [self.conv1, self.bn1]
        if stage == "stem":
            return stem
        return stem + [getattr(self, f"layer{index + 1}") for index in range(STAGE_NAMES.index(stage) + 1)]

    def motion_blocks(self) -> dict[str, PrimeMotionBlock]:
        """The prime motion block of each motion level, ``{"res2": ..., ...}``."""
        return {name: getattr(self, f"layer{STAGE_NAMES.index(name) + 1}")[-1] for name in self.motion_levels}

    def motion_features(self) -> dict[str, Tensor]:
        """HCML's motion features ``P^l`` ``(N, C_p, T_l, H_l, W_l)`` of the last forward, per level."""
        return {name: block.last_motion for name, block in self.motion_blocks().items()}

    def frame_logits(self, features: dict[str, Tensor]) -> Tensor:
        """Per-time-step class scores ``(N, T/4, K)`` from res5 ``(N, C, T/4, H, W)``."""
        pooled = features["res5"].mean(dim=(3, 4)).transpose(1, 2)
        return self.fc(self.dropout(pooled))

    def forward_head(self, features: dict[str, Tensor]) -> Tensor:
        """Average of the per-time-step logits (= global average pooling + fc): ``(N, K)``."""
        return self.frame_logits(features).mean(dim=1)

    def reset_classifier(self, num_classes: int | tuple[int, ...]) -> None:
        self.head_sizes = tuple(num_classes) if isinstance(num_classes, (tuple, list)) else (num_classes,)
        self.fc = nn.Linear(self.num_features, sum(self.head_sizes))
        self._init_classifier()

    def forward(self, x: Tensor, return_features: bool = False) -> Tensor | tuple[Tensor, dict[str, Tensor]]:
        """Scores ``(N, K)``; with ``return_features`` also the stage outputs (for HCML's motion levels)."""
        features = self.forward_features(x)
        scores = self.forward_head(features)
        return (scores, features) if return_features else scores


def stage_sizes(num_frames: int, input_size: int) -> dict[str, tuple[int, int]]:
    """``{stage: (T_j, H_j)}`` of a ``num_frames x input_size x input_size`` clip (each stride rounds up)."""
    frames, side = num_frames, -(-input_size // 4)
    sizes = {}
    for name, temporal_stride, stride in zip(STAGE_NAMES, TEMPORAL_STRIDES, SPATIAL_STRIDES):
        frames, side = -(-frames // temporal_stride), -(-side // stride)
        sizes[name] = (frames, side)
    return sizes


def _check_motion_levels(levels: tuple[str, ...], num_frames: int, input_size: int | None, max_displacement: int,
                         stride: int) -> None:
    if num_frames < 2:
        raise ValueError(f"the prime motion blocks pair adjacent frames: clips need at least 2 frames, got "
                         f"num_frames={num_frames}")
    displacements = cost_volume_displacements(max_displacement, stride)
    window = 2 * max(abs(dy) for dy, _ in displacements) + 1
    for level in levels:
        frames, side = stage_sizes(num_frames, input_size or 224)[level]
        if frames < 2:
            raise ValueError(f"motion level {level} sees {frames} frame(s) of a {num_frames}-frame clip (temporal "
                             f"stride {num_frames // frames}); its cost volume needs 2: use longer clips or drop "
                             f"{level} from motion_levels")
        if input_size is not None and side < window:
            raise ValueError(f"motion level {level}: a {input_size}x{input_size} input gives {side}x{side} feature "
                             f"maps, smaller than the cost volume's {window}x{window} search window (d="
                             f"{max_displacement}, s={stride}); lower motion_max_displacement, drop {level} from "
                             f"motion_levels or raise the input size")


def state_dict_from_2d(state_dict_2d: str | Path | Mapping[str, Tensor], model: R2Plus1D) -> dict[str, Tensor]:
    """A 2D ResNet's weights (torchvision / TSN / TSM names, a path or a state dict) as weights of ``model``.

    Each 2D kernel ``(O, I, kh, kw)`` whose counterpart in ``model`` is ``(O, I, 1, kh, kw)`` gains
    that time axis; BN and classifier tensors pass unchanged. Every kernel of R2D-50 is one frame
    long, so ImageNet ResNet-50 weights load whole into ``r2d_r50``, which then computes the 2D
    network frame by frame (on the frames its temporal strides keep). R(2+1)D's ``temporal_conv``
    / ``temporal_bn`` have no 2D counterpart: :func:`vidaction.models.load_pretrained` reports
    them missing (as it reports a classifier of another size).
    """
    state, _ = read_state_dict(state_dict_2d)
    own = model.state_dict()
    converted = {}
    for key, value in state.items():
        target = own.get(key)
        if target is not None and target.dim() == 5 and value.dim() == 4 and target.shape[2] == 1:
            value = value.unsqueeze(2)
        converted[key] = value
    return converted


NumClasses = int | tuple[int, ...]


@register_model
def r2d_r50(num_classes: NumClasses, num_frames: int, dropout: float = 0.5, base_width: int = 64,
            in_channels: int = 3, motion: str | None = None,
            motion_levels: tuple[str, ...] = ("res2", "res3", "res4"), motion_reduction: int = 8,
            motion_max_displacement: int = 6, motion_stride: int = 2, input_size: int | None = None) -> R2Plus1D:
    """HCML's R2D-50 (Table 5), for 16-frame clips: 23.51 M backbone parameters (ResNet-50's); 31.1 G
    MACs at 16x224x224, 40.7 G at 16x256x256 (Table 6 / Table 2: 49 / 1.18 = 41.5 G)."""
    return R2Plus1D((3, 4, 6, 3), (), **locals())


@register_model
def r2plus1d_r101(num_classes: NumClasses, num_frames: int, dropout: float = 0.5, base_width: int = 64,
                  in_channels: int = 3, motion: str | None = None,
                  motion_levels: tuple[str, ...] = ("res2", "res3", "res4"), motion_reduction: int = 8,
                  motion_max_displacement: int = 6, motion_stride: int = 2, input_size: int | None = None) -> R2Plus1D:
    """HCML's R(2+1)D-101 (Table 5, temporal convs in res4 and res5), for 32-frame clips: 49.40 M backbone
    parameters; 101.8 G MACs at 32x224x224, 133.0 G at 32x256x256 (Table 6 / Table 2: 150 / 1.11 = 135 G)."""
    return R2Plus1D((3, 4, 23, 3), TOP_HEAVY, **locals())


@register_model
def r2d_tiny(num_classes: NumClasses, num_frames: int, dropout: float = 0.0, base_width: int = 8,
             in_channels: int = 3, motion: str | None = None,
             motion_levels: tuple[str, ...] = ("res2", "res3", "res4"), motion_reduction: int = 8,
             motion_max_displacement: int = 6, motion_stride: int = 2, input_size: int | None = None) -> R2Plus1D:
    """An 8-channel R2D with one block per stage, for tests."""
    return R2Plus1D((1, 1, 1, 1), (), **locals())


@register_model
def r2plus1d_tiny(num_classes: NumClasses, num_frames: int, dropout: float = 0.0, base_width: int = 8,
                  in_channels: int = 3, motion: str | None = None,
                  motion_levels: tuple[str, ...] = ("res2", "res3", "res4"), motion_reduction: int = 8,
                  motion_max_displacement: int = 6, motion_stride: int = 2, input_size: int | None = None) -> R2Plus1D:
    """An 8-channel R(2+1)D with one block per stage (temporal convs in res4 and res5), for tests."""
    return R2Plus1D((1, 1, 1, 1), TOP_HEAVY, **locals())
