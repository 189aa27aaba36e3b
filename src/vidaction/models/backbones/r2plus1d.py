"""R2D-50 and R(2+1)D-101 as HCML modifies them (Yang et al., ECCV 2020, "Hierarchical Contrastive
Motion Learning for Video Action Recognition", Sec. 4.1, appendix A.1 and its Table 5).

Both are the shared :class:`~vidaction.models.backbones.video_resnet.VideoResNet` on clips
``(N, C, T, H, W)``, with ``SPATIAL`` and ``FACTORISED`` bottlenecks: R2D-50 has ResNet-50's 3, 4,
6, 3 blocks and no temporal kernel at all; R(2+1)D-101 has ResNet-101's 3, 4, 23, 3 blocks and a
temporal conv only in res4 and res5 (the "top-heavy" design of S3D). Table 5, whose row names are
our feature names (conv1's output is ``"stem"``)::

    layer  R2D-50                                R(2+1)D-101                                       output
    conv1  1x7x7, 64, stride 1x2x2               same                                              T   x 112 x 112
    res2   [1x1x1, 64; 1x3x3, 64; 1x1x1, 256]x3  same                                              T   x 56 x 56
    res3   [1x1x1,128; 1x3x3,128; 1x1x1, 512]x4  same                                              T/2 x 28 x 28
    res4   [1x1x1,256; 1x3x3,256; 1x1x1,1024]x6  [1x1x1,256; (3x1x1,256); 1x3x3,256; 1x1x1,1024]x23  T/4 x 14 x 14
    res5   [1x1x1,512; 1x3x3,512; 1x1x1,2048]x3  [1x1x1,512; (3x1x1,512); 1x3x3,512; 1x1x1,2048]x3   T/4 x 7 x 7

HCML trains R2D-50 on 16-frame and R(2+1)D-101 on 32-frame clips (appendix B.2).

A ``1x3x3`` max pool opens res2; the first blocks of res3 and res4 also halve T (rounding up).
Decisions: docs/papers/hcml.md#backbones.

Each stage is an ``nn.Sequential`` (``layer1``..``layer4`` = res2..res5) whose output is the stage's
feature, so HCML's prime motion block (a residual block after res2, res3 and res4, appendix A.3)
is added by appending to it, e.g. ``model.layer1.append(block)``; it must keep ``(N, C, T, H, W)``.

Parameter names follow torchvision's ResNet (``conv1``, ``bn1``, ``layer1.0.conv1``,
``layerX.0.downsample.0``, ``fc``; R(2+1)D's temporal convs are ``temporal_conv`` /
``temporal_bn``), so :func:`state_dict_from_2d` turns ImageNet ResNet (or TSN) weights into ours
key for key.
"""

from __future__ import annotations

from torch import Tensor, nn

from vidaction.models.backbones.video_resnet import Bottleneck, Stem, VideoResNet
from vidaction.models.backbones.video_resnet import inflate_2d_state_dict as state_dict_from_2d
from vidaction.models.heads.classifier import NumClasses
from vidaction.models.layers.video_conv import FACTORISED, SPATIAL
from vidaction.models.motion.cost_volume import cost_volume_displacements
from vidaction.models.motion.prime_motion import PrimeMotionBlock
from vidaction.models.registry import register_model

__all__ = ["Bottleneck2Plus1d", "R2Plus1D", "stage_sizes", "state_dict_from_2d"]

STAGE_NAMES = ("res2", "res3", "res4", "res5")
# Table 5's output sizes: T, T/2, T/4, T/4 and 56, 28, 14, 7 for a 224 input.
TEMPORAL_STRIDES = (1, 2, 2, 1)
SPATIAL_STRIDES = (1, 2, 2, 2)
TOP_HEAVY = ("res4", "res5")

# Table 5's bottleneck is the shared one: FACTORISED blocks have R(2+1)D's 3x1x1 conv, SPATIAL ones none.
Bottleneck2Plus1d = Bottleneck


class R2Plus1D(VideoResNet):
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
                 num_classes: NumClasses, num_frames: int, dropout: float = 0.5, base_width: int = 64,
                 in_channels: int = 3, motion: str | None = None,
                 motion_levels: tuple[str, ...] = ("res2", "res3", "res4"), motion_reduction: int = 8,
                 motion_max_displacement: int = 6, motion_stride: int = 2, input_size: int | None = None) -> None:
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

        def prime_motion(stage: str, channels: int) -> list[nn.Module]:
            if not (motion and stage in motion_levels):
                return []
            reduced = max(channels // motion_reduction, 1)
            return [PrimeMotionBlock(channels, reduction=motion_reduction, motion_channels=2 * reduced,
                                     max_displacement=motion_max_displacement, stride=motion_stride)]

        conv_types = [(FACTORISED if name in temporal_stages else SPATIAL,) * count
                      for name, count in zip(STAGE_NAMES, layers)]
        # pretrained_cfg records Table 5's 224 input; input_size only sizes the motion checks.
        super().__init__(Bottleneck, conv_types, Stem(SPATIAL, pooled_feature=False), num_classes, num_frames,
                         dropout, base_width, in_channels, temporal_strides=TEMPORAL_STRIDES,
                         stage_names=STAGE_NAMES, input_size=224, stage_tail=prime_motion)
        self.temporal_stages = tuple(temporal_stages)
        self.motion_levels = tuple(name for name in STAGE_NAMES if motion and name in motion_levels)

    def _check_input(self, x: Tensor) -> None:
        super()._check_input(x)
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
