"""2D ResNet video classifiers: TSN (Wang et al., ECCV 2016) and TSM (Lin et al., ICCV 2019).

Each of the T frames of a clip ``(N, 3, T, H, W)`` goes through a 2D ResNet as a batch of
``(N*T, 3, H, W)`` images; per-frame logits are averaged over T (TSN's "average consensus").
TSM adds a temporal shift of 1/``shift_div`` of the channels each way (zero padded) on the residual
branch before ``conv1`` of every block, the published "blockres" placement; it costs no parameters
and no multiply-accumulates.

``attention="w3"`` (or ``"cbam"``) puts an attention block on the residual branch of every block of
the stages in ``attention_stages`` (default all four), after the last BatchNorm and before the
addition (W3 Sec. 3.3; the placement of image attention modules). ``attention="nonlocal"`` follows
TSM-NL instead (the non-local baseline of W3's Table 6): a :class:`NonLocalBlock` after every other
block (0, 2, 4, ...) of the stages in ``attention_stages`` (default 2 and 3, i.e. 2 + 3 = 5 blocks
in ResNet-50 as in the Non-local paper), wrapped as ``layerX.Y.block`` / ``layerX.Y.nl`` like the
official TSM code, so its TSM-NL checkpoints load. ``input_size`` is the side of the frames the
model is built for: W3/CBAM refuse, at build time and naming the layer, a stage whose feature maps
would be smaller than their spatial kernel. ``refine=True`` adds W3's attention-guided feature
refinement (eqs. 7-8, :class:`~vidaction.models.attention.refinement.AttentionRefinement`): the
spatial masks of the last block of each attended stage, frame by frame, give a term added to the
last stage's features (zero at initialisation); ``forward_features`` then returns the refined map
as ``"layer4"``. Both add parameters under ``attention.*`` and ``refine.*`` names, so plain ResNet
weights still load, with those reported missing.

Parameter names follow torchvision's ResNet (``conv1``, ``bn1``, ``layer1.0.conv1``,
``layerX.0.downsample.0``, ``fc``; v1.5 with the stride on the 3x3 conv), so ImageNet weights and
official TSM checkpoints load through :func:`vidaction.models.load_pretrained`.
"""

from __future__ import annotations

from torch import Tensor, nn

import torch

from vidaction.config import IMAGENET_MEAN, IMAGENET_STD
from vidaction.models.attention.cbam import CBAM
from vidaction.models.attention.nonlocal_block import NonLocalBlock
from vidaction.models.attention.refinement import AttentionRefinement
from vidaction.models.attention.w3 import W3Attention
from vidaction.models.layers.temporal_shift import TemporalShift
from vidaction.models.registry import register_model


class BasicBlock(nn.Module):
    """Two 3x3 convs (ResNet-18/34): ``(N*T, C_in, H, W) -> (N*T, C, H/s, W/s)``."""

    expansion = 1

    def __init__(self, in_channels: int, channels: int, stride: int, shift: TemporalShift | None,
                 attention: nn.Module | None = None) -> None:
        super().__init__()
        self.shift = shift
        self.attention = attention
        self.conv1 = nn.Conv2d(in_channels, channels, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = _downsample(in_channels, channels, stride)

    def residual(self, x: Tensor) -> Tensor:
        out = self.shift(x) if self.shift is not None else x
        out = self.relu(self.bn1(self.conv1(out)))
        out = self.bn2(self.conv2(out))
        return self.attention(out) if self.attention is not None else out

    def forward(self, x: Tensor) -> Tensor:
        identity = self.downsample(x) if self.downsample is not None else x
        return self.relu(self.residual(x) + identity)


class Bottleneck(nn.Module):
    """1x1 -> 3x3 (strided) -> 1x1 convs (ResNet-50/101): ``(N*T, C_in, H, W) -> (N*T, 4C, H/s, W/s)``."""

    expansion = 4

    def __init__(self, in_channels: int, channels: int, stride: int, shift: TemporalShift | None,
                 attention: nn.Module | None = None) -> None:
        super().__init__()
        self.shift = shift
        self.attention = attention
        self.conv1 = nn.Conv2d(in_channels, channels, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)
        self.conv3 = nn.Conv2d(channels, channels * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(channels * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = _downsample(in_channels, channels * 4, stride)

    def residual(self, x: Tensor) -> Tensor:
        out = self.shift(x) if self.shift is not None else x
        out = self.relu(self.bn1(self.conv1(out)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.attention(out) if self.attention is not None else out

    def forward(self, x: Tensor) -> Tensor:
        identity = self.downsample(x) if self.downsample is not None else x
        return self.relu(self.residual(x) + identity)


def _downsample(in_channels: int, out_channels: int, stride: int) -> nn.Sequential | None:
    if stride == 1 and in_channels == out_channels:
        return None
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, stride, bias=False), nn.BatchNorm2d(out_channels))


ATTENTION_KINDS = (None, "w3", "cbam", "nonlocal")


class NonLocalWrapper(nn.Module):
    """A residual block followed by a non-local block: ``(N*T, C_in, H, W) -> (N*T, C, H', W')``."""

    def __init__(self, block: nn.Module, nl: NonLocalBlock) -> None:
        super().__init__()
        self.block = block
        self.nl = nl

    def forward(self, x: Tensor) -> Tensor:
        return self.nl(self.block(x))


def _attention_block(kind: str, channels: int, num_frames: int, reduction: int, options: dict,
                     where: str) -> nn.Module:
    try:
        if kind == "w3":
            return W3Attention(channels, num_frames, reduction, **{"inplace": True, **options})
        if kind == "cbam":
            return CBAM(channels, reduction, **{"inplace": True, **options})
        return NonLocalBlock(channels, num_frames, **options)
    except TypeError as exc:
        raise ValueError(f"attention_options {options} do not fit {kind!r} at {where}: {exc}") from exc


def check_attention_fits(kind: str | None, options: dict, stage_sizes: dict[str, int], input_size: int) -> None:
    """Refuse W3/CBAM on a stage whose ``size x size`` feature maps are smaller than the spatial kernel."""
    if kind not in ("w3", "cbam"):
        return
    kernel = options.get("spatial_kernel", 7)
    for where, size in stage_sizes.items():
        if size < kernel:
            raise ValueError(f"{where}: a {input_size}x{input_size} input gives {size}x{size} feature maps, smaller "
                             f"than the {kernel}x{kernel} spatial kernel of {kind!r}; drop the stage from "
                             "attention_stages, lower attention_options.spatial_kernel or raise input_size")


class ResNetTSM(nn.Module):
    """TSN/TSM ResNet: ``(N, C_in, T, H, W) -> (N, num_classes)``.

    Args:
        block: :class:`BasicBlock` or :class:`Bottleneck`.
        layers: blocks per stage, e.g. ``(3, 4, 6, 3)`` for ResNet-50.
        num_classes: classifier size K, or one size per head (e.g. ``(125, 352)`` for
            EPIC-Kitchens' verbs and nouns): the heads' scores then sit side by side in one
            ``(N, sum K_h)`` output, in head order (see :mod:`vidaction.data.labels`).
        num_frames: T, the clip length the temporal shift mixes over.
        shift: add TSM's temporal shift ("blockres"); False gives TSN.
        shift_div: 1/shift_div of the channels shift each way (8 in the paper).
        dropout: dropout before the classifier.
        base_width: channels of the stem (64 in the standard ResNets); narrow variants for CPU.
        in_channels: input channels (3 for RGB).
        attention: ``None``, ``"w3"``, ``"cbam"`` (every block of ``attention_stages``) or
            ``"nonlocal"`` (after every other block of ``attention_stages``).
        attention_stages: 1-based stage numbers that get attention (default: all four for W3/CBAM,
            2 and 3 for the non-local block).
        attention_reduction: r of the attention MLPs.
        refine: W3's attention-guided feature refinement (needs ``attention``).
        attention_options: extra keyword arguments of the attention block, e.g. W3's
            ``{"use_spatial": False}`` or ``{"use_temporal": False}`` (Table 5 ablations) or
            ``{"temporal_mode": "dense"}``.
        input_size: frame side the model is built for (checked against W3/CBAM's spatial kernel).
    """

    def __init__(self, block: type[BasicBlock] | type[Bottleneck], layers: tuple[int, ...],
                 num_classes: int | tuple[int, ...],
                 num_frames: int, shift: bool, shift_div: int = 8, dropout: float = 0.5, base_width: int = 64,
                 in_channels: int = 3, attention: str | None = None,
                 attention_stages: tuple[int, ...] | None = None, attention_reduction: int = 16,
                 refine: bool = False, attention_options: dict | None = None, input_size: int = 224) -> None:
        super().__init__()
        if num_frames < 1:
            raise ValueError(f"num_frames must be >= 1, got {num_frames}")
        if attention not in ATTENTION_KINDS:
            raise ValueError(f"attention must be one of {list(ATTENTION_KINDS)}, got {attention!r}")
        if attention_stages is None:
            attention_stages = (2, 3) if attention == "nonlocal" else (1, 2, 3, 4)
        attention_stages = tuple(attention_stages)
        bad_stages = [s for s in attention_stages if s not in range(1, len(layers) + 1)]
        if attention and bad_stages:
            raise ValueError(f"attention_stages {bad_stages} do not exist: this ResNet has stages 1..{len(layers)}")
        if refine and attention not in ("w3", "cbam"):
            raise ValueError("refine=True (attention-guided feature refinement) needs attention='w3' or 'cbam'")
        attention_options = attention_options or {}
        sizes, side = {}, -(-input_size // 4)
        for index in range(len(layers)):
            side = side if index == 0 else -(-side // 2)
            sizes[f"layer{index + 1}"] = side
        check_attention_fits(attention, attention_options,
                             {name: size for name, size in sizes.items() if int(name[5:]) in attention_stages},
                             input_size)
        self.num_frames = num_frames
        self.in_channels = in_channels
        self.is_shift = shift
        self.conv1 = nn.Conv2d(in_channels, base_width, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(base_width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        self.feature_info = [dict(num_chs=base_width, reduction_t=1, reduction_s=4, name="stem")]
        channels, reduction = base_width, 4
        for index, count in enumerate(layers):
            stride = 1 if index == 0 else 2
            reduction *= stride
            stage = []
            out_channels = base_width * 2 ** index * block.expansion
            for position in range(count):
                where = f"layer{index + 1}.{position}"
                attended = attention is not None and index + 1 in attention_stages
                attend = None
                if attended and attention != "nonlocal":
                    attend = _attention_block(attention, out_channels, num_frames, attention_reduction,
                                              attention_options, where)
                layer = block(channels, base_width * 2 ** index, stride if position == 0 else 1,
                              TemporalShift(num_frames, shift_div) if shift else None, attend)
                if attended and attention == "nonlocal" and position % 2 == 0:
                    layer = NonLocalWrapper(layer, _attention_block(attention, out_channels, num_frames,
                                                                    attention_reduction, attention_options, where))
                stage.append(layer)
                channels = out_channels
            self.add_module(f"layer{index + 1}", nn.Sequential(*stage))
            self.feature_info.append(dict(num_chs=channels, reduction_t=1, reduction_s=reduction,
                                          name=f"layer{index + 1}"))
        self.stage_names = [info["name"] for info in self.feature_info]
        self.num_features = channels
        self.attention = attention
        self.attention_stages = tuple(sorted(attention_stages)) if attention else ()
        self.refine = AttentionRefinement(len(self.attention_stages), channels) if refine else None
        self.dropout = nn.Dropout(dropout)
        self.head_sizes = tuple(num_classes) if isinstance(num_classes, (tuple, list)) else (num_classes,)
        self.fc = nn.Linear(channels, sum(self.head_sizes))
        self.pretrained_cfg = dict(mean=list(IMAGENET_MEAN), std=list(IMAGENET_STD), num_frames=num_frames,
                                   input_size=input_size, class_names=None)
        self._init_weights()

    def _init_weights(self) -> None:
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
        self._init_classifier()

    def _init_classifier(self) -> None:
        # TSN/TSM initialise the new classifier with std 0.001 so fine-tuning starts near uniform scores.
        nn.init.normal_(self.fc.weight, 0.0, 0.001)
        nn.init.zeros_(self.fc.bias)

    def _check_input(self, x: Tensor) -> None:
        if x.dim() != 5 or x.shape[1] != self.in_channels:
            raise ValueError(f"expected a clip (N, {self.in_channels}, T, H, W), got {tuple(x.shape)}")
        if self.is_shift and x.shape[2] != self.num_frames:
            raise ValueError(f"TSM was built for T={self.num_frames} frames, got a clip of {x.shape[2]}")

    def forward_features(self, x: Tensor) -> dict[str, Tensor]:
        """Stage outputs ``{"stem", "layer1".."layer4"}``, each ``(N, C, T, H', W')`` (a view)."""
        self._check_input(x)
        n, c, t, h, w = x.shape
        frames = x.transpose(1, 2).reshape(n * t, c, h, w)
        out = self.maxpool(self.relu(self.bn1(self.conv1(frames))))
        features = {"stem": out}
        for name in self.stage_names[1:]:
            out = getattr(self, name)(out)
            features[name] = out
        if self.refine is not None:
            masks = [m.transpose(1, 2).flatten(0, 1) for m in self.attention_masks().values()]
            features[self.stage_names[-1]] = out + self.refine(masks, out.shape[-2:])
        return {k: v.view(n, t, *v.shape[1:]).transpose(1, 2) for k, v in features.items()}

    def attention_masks(self) -> dict[str, torch.Tensor]:
        """Spatial masks ``(N, 1, T, H_j, W_j)`` of the last block of each attended stage, from the
        last forward pass (for refinement and pictures)."""
        if self.attention not in ("w3", "cbam"):
            raise ValueError(f"attention_masks() needs a W3 or CBAM model, this one has attention={self.attention!r}")
        masks = {}
        for j in self.attention_stages:
            spatial = getattr(self, f"layer{j}")[-1].attention.last_masks.spatial
            if spatial.dim() == 4:
                spatial = spatial.view(-1, self.num_frames, *spatial.shape[1:]).transpose(1, 2)
            masks[f"layer{j}"] = spatial
        return masks

    def frame_logits(self, features: dict[str, Tensor]) -> Tensor:
        """Per-frame class scores ``(N, T, K)`` from the last stage ``(N, C, T, H, W)``."""
        pooled = features[self.stage_names[-1]].mean(dim=(3, 4)).transpose(1, 2)
        return self.fc(self.dropout(pooled))

    def forward_head(self, features: dict[str, Tensor]) -> Tensor:
        """Average consensus of per-frame logits: ``(N, K)``."""
        return self.frame_logits(features).mean(dim=1)

    def reset_classifier(self, num_classes: int | tuple[int, ...]) -> None:
        self.head_sizes = tuple(num_classes) if isinstance(num_classes, (tuple, list)) else (num_classes,)
        self.fc = nn.Linear(self.num_features, sum(self.head_sizes))
        self._init_classifier()

    def forward(self, x: Tensor, return_features: bool = False) -> Tensor | tuple[Tensor, dict[str, Tensor]]:
        """Scores ``(N, K)``; with ``return_features`` also the stage outputs (for distillation)."""
        features = self.forward_features(x)
        scores = self.forward_head(features)
        return (scores, features) if return_features else scores


AttentionStages = tuple[int, ...] | None
NumClasses = int | tuple[int, ...]


@register_model
def tsn_r18(num_classes: NumClasses, num_frames: int, dropout: float = 0.5, base_width: int = 64,
            in_channels: int = 3, attention: str | None = None, attention_stages: AttentionStages = None,
            attention_reduction: int = 16, refine: bool = False, attention_options: dict | None = None,
            input_size: int = 224) -> ResNetTSM:
    """TSN with a ResNet-18 backbone."""
    return ResNetTSM(BasicBlock, (2, 2, 2, 2), shift=False, **locals())


@register_model
def tsn_r50(num_classes: NumClasses, num_frames: int, dropout: float = 0.5, base_width: int = 64,
            in_channels: int = 3, attention: str | None = None, attention_stages: AttentionStages = None,
            attention_reduction: int = 16, refine: bool = False, attention_options: dict | None = None,
            input_size: int = 224) -> ResNetTSM:
    """TSN with a ResNet-50 backbone."""
    return ResNetTSM(Bottleneck, (3, 4, 6, 3), shift=False, **locals())


@register_model
def tsm_r18(num_classes: NumClasses, num_frames: int, dropout: float = 0.5, shift_div: int = 8, base_width: int = 64,
            in_channels: int = 3, attention: str | None = None, attention_stages: AttentionStages = None,
            attention_reduction: int = 16, refine: bool = False, attention_options: dict | None = None,
            input_size: int = 224) -> ResNetTSM:
    """TSM (blockres shift) with a ResNet-18 backbone."""
    return ResNetTSM(BasicBlock, (2, 2, 2, 2), shift=True, **locals())


@register_model
def tsm_r50(num_classes: NumClasses, num_frames: int, dropout: float = 0.5, shift_div: int = 8, base_width: int = 64,
            in_channels: int = 3, attention: str | None = None, attention_stages: AttentionStages = None,
            attention_reduction: int = 16, refine: bool = False, attention_options: dict | None = None,
            input_size: int = 224) -> ResNetTSM:
    """TSM (blockres shift) with a ResNet-50 backbone: 33.0 G MACs at 8x224x224 in the paper."""
    return ResNetTSM(Bottleneck, (3, 4, 6, 3), shift=True, **locals())


@register_model
def tsn_tiny(num_classes: NumClasses, num_frames: int, dropout: float = 0.0, base_width: int = 8,
             in_channels: int = 3, attention: str | None = None, attention_stages: AttentionStages = None,
             attention_reduction: int = 4, refine: bool = False, attention_options: dict | None = None,
             input_size: int = 224) -> ResNetTSM:
    """A one-block-per-stage, 8-channel TSN for tests."""
    return ResNetTSM(BasicBlock, (1, 1, 1, 1), shift=False, **locals())


@register_model
def tsm_tiny(num_classes: NumClasses, num_frames: int, dropout: float = 0.0, shift_div: int = 8, base_width: int = 8,
             in_channels: int = 3, attention: str | None = None, attention_stages: AttentionStages = None,
             attention_reduction: int = 4, refine: bool = False, attention_options: dict | None = None,
             input_size: int = 224) -> ResNetTSM:
    """A one-block-per-stage, 8-channel TSM for tests."""
    return ResNetTSM(BasicBlock, (1, 1, 1, 1), shift=True, **locals())
