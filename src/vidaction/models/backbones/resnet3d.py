"""Inflated 3D ResNet-50 (I3D, Carreira & Zisserman, CVPR 2017): the "I3D 3D R50" of W3's Table 1
and the I3D baseline of its supplementary (Table 8), with W3 / CBAM / non-local attention.

The network is the ResNet-50 I3D baseline of the Non-local paper (Wang et al., CVPR 2018: the
ResNet-50 of its Table 1, inflated as in its Sec. 4) exactly as MMAction2 builds ``i3d_r50``
(``configs/_base_/models/i3d_r50.py`` with ``ResNet3d``'s defaults). Shapes for a ``32 x 224 x 224`` clip::

    conv1    5x7x7, 64, stride (2, 2, 2), BN, ReLU         16 x 112 x 112
    maxpool  1x3x3, stride (2, 2, 2)                         8 x 56 x 56    "stem"
    layer1   3 bottlenecks, 256                              8 x 56 x 56    "layer1"
    pool2    2x1x1 max, stride (2, 1, 1)                     4 x 56 x 56
    layer2   4 bottlenecks, 512, spatial stride 2            4 x 28 x 28    "layer2"
    layer3   6 bottlenecks, 1024, spatial stride 2           4 x 14 x 14    "layer3"
    layer4   3 bottlenecks, 2048, spatial stride 2           4 x 7 x 7      "layer4"

Time is halved by conv1, by the max pool and by pool2 (MMAction2's ``conv1_stride_t=2``,
``pool1_stride_t=2``, ``with_pool2=True``): ``T' = T / 8``. ``"layer1"`` is the stage's own output,
before pool2, as res2 in the Non-local paper's Table 1. A bottleneck is ``1x1x1 -> 1x3x3 -> 1x1x1``
with the spatial stride on the ``1x3x3`` conv (v1.5, MMAction2's ``style='pytorch'``); the "3x1x1"
inflation style makes the first conv ``3x1x1`` (temporal padding 1) in the blocks marked by
MMAction2's inflate pattern ``((1, 1, 1), (1, 0, 1, 0), (1, 0, 1, 0, 1, 0), (0, 1, 0))``. Shortcuts
are ``1x1x1`` convs with stride ``(1, 2, 2)`` plus BN; there is no temporal stride inside the stages.
Convs are Kaiming-initialised (fan-out), BN to (1, 0), the classifier with std 0.01 (MMAction2's
``zero_init_residual=False`` and ``I3DHead``).

Head (W3 Sec. 3.4, "video-level prediction is obtained by averaging the frame-level predictions"):
the last stage is averaged over space only, each of its ``T'`` time steps is classified
(:meth:`ResNet3d.frame_logits`) and the ``T'`` scores are averaged; the classifier being linear, this
equals MMAction2's ``I3DHead`` (global average pool, dropout, fc) at test time.

Attention, as in :mod:`vidaction.models.backbones.resnet_tsm` but on the 5D maps directly:
``attention="w3"`` / ``"cbam"`` on the residual branch of every block of ``attention_stages``, after
the last BN and before the addition (W3 Sec. 3.3); ``attention="nonlocal"`` a
:class:`NonLocalBlock` after blocks 1, 3, 5, ... of ``attention_stages`` (default 2 and 3: blocks
1, 3 of layer2 and 1, 3, 5 of layer3, the Non-local paper's 5-block I3D, MMAction2's
``non_local=((0, 0, 0), (0, 1, 0, 1), (0, 1, 0, 1, 0, 1), (0, 0, 0))``), wrapped as
``layerX.Y.block`` / ``layerX.Y.nl``. ``refine=True`` is W3's attention-guided feature refinement
(eqs. 7-8) on spatio-temporal maps: the masks ``(N, 1, T_j, H_j, W_j)`` of the last block of each
attended stage give, through :class:`~vidaction.models.attention.refinement.AttentionRefinement`
(pooled to the last stage's ``(T', H', W')``, a 1x1x1 conv + ReLU, zero at initialisation), a term
added to the last stage at each of its time steps.

Parameter names follow torchvision's ResNet (``conv1``, ``bn1``, ``layer1.0.conv1``,
``layerX.0.downsample.0``, ``fc``), so :func:`inflate_2d_state_dict` turns ImageNet ResNet-50 (or
TSN) weights into I3D weights key for key.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from torch import Tensor, nn

from vidaction.config import IMAGENET_MEAN, IMAGENET_STD
from vidaction.models.attention.cbam import CBAM
from vidaction.models.attention.nonlocal_block import NonLocalBlock
from vidaction.models.attention.refinement import AttentionRefinement
from vidaction.models.attention.w3 import W3Attention
from vidaction.models.backbones.resnet_tsm import ATTENTION_KINDS, NonLocalWrapper, check_attention_fits
from vidaction.models.pretrained import read_state_dict
from vidaction.models.registry import register_model

I3D_R50_INFLATE = ((1, 1, 1), (1, 0, 1, 0), (1, 0, 1, 0, 1, 0), (0, 1, 0))

# conv1, the max pool and pool2 each halve T (rounding as their kernels and paddings do), so
# layer2 gets ceil(T / 4) // 2 steps: at least one needs T >= 5.
MIN_FRAMES = 5


def _conv(in_channels: int, out_channels: int, kernel: tuple[int, int, int], stride: tuple[int, int, int] = (1, 1, 1),
          padding: tuple[int, int, int] = (0, 0, 0)) -> nn.Conv3d:
    conv = nn.Conv3d(in_channels, out_channels, kernel, stride, padding, bias=False)
    nn.init.kaiming_normal_(conv.weight, mode="fan_out", nonlinearity="relu")
    return conv


class Bottleneck3d(nn.Module):
    """1x1x1 (3x1x1 if inflated) -> 1x3x3 (strided) -> 1x1x1 convs:
    ``(N, C_in, T, H, W) -> (N, 4C, T, H/s, W/s)``."""

    expansion = 4

    def __init__(self, in_channels: int, channels: int, stride: int, inflate: bool,
                 attention: nn.Module | None = None) -> None:
        super().__init__()
        kernel_t = 3 if inflate else 1
        self.attention = attention
        self.conv1 = _conv(in_channels, channels, (kernel_t, 1, 1), padding=(kernel_t // 2, 0, 0))
        self.bn1 = nn.BatchNorm3d(channels)
        self.conv2 = _conv(channels, channels, (1, 3, 3), (1, stride, stride), (0, 1, 1))
        self.bn2 = nn.BatchNorm3d(channels)
        self.conv3 = _conv(channels, channels * 4, (1, 1, 1))
        self.bn3 = nn.BatchNorm3d(channels * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or in_channels != channels * 4:
            self.downsample = nn.Sequential(_conv(in_channels, channels * 4, (1, 1, 1), (1, stride, stride)),
                                            nn.BatchNorm3d(channels * 4))

    def residual(self, x: Tensor) -> Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.attention(out) if self.attention is not None else out

    def forward(self, x: Tensor) -> Tensor:
        identity = self.downsample(x) if self.downsample is not None else x
        return self.relu(self.residual(x) + identity)


def _attention_block(kind: str, channels: int, reduction: int, options: dict, where: str) -> nn.Module:
    try:
        if kind == "w3":
            return W3Attention(channels, None, reduction, **options)
        if kind == "cbam":
            return CBAM(channels, reduction, **options)
        return NonLocalBlock(channels, None, **options)
    except TypeError as exc:
        raise ValueError(f"attention_options {options} do not fit {kind!r} at {where}: {exc}") from exc


class ResNet3d(nn.Module):
    """I3D ResNet: ``(N, C_in, T, H, W) -> (N, num_classes)``, ``T >= 5``.

    Args:
        inflate: per stage, per block, 1 where the block's first conv is inflated to 3x1x1; its
            shape gives the depth (``I3D_R50_INFLATE``: 3, 4, 6, 3 blocks).
        num_classes: classifier size K, or one size per head (scores side by side, head order).
        num_frames: T the model is built for (recorded in ``pretrained_cfg``); any ``T >= 5`` runs.
        dropout: dropout before the classifier.
        base_width: channels of the stem (64 in ResNet-50); narrow variants for CPU.
        in_channels: input channels (3 for RGB).
        attention: ``None``, ``"w3"``, ``"cbam"`` (every block of ``attention_stages``) or
            ``"nonlocal"`` (after blocks 1, 3, 5, ... of ``attention_stages``).
        attention_stages: 1-based stages that get attention (default: all four for W3/CBAM, 2 and
            3 for the non-local block).
        attention_reduction: r of the attention MLPs.
        refine: W3's attention-guided feature refinement (needs ``"w3"`` or ``"cbam"``).
        attention_options: extra keyword arguments of the attention block.
        input_size: frame side the model is built for (checked against W3/CBAM's spatial kernel).
    """

    def __init__(self, inflate: tuple[tuple[int, ...], ...], num_classes: int | tuple[int, ...], num_frames: int,
                 dropout: float = 0.5, base_width: int = 64, in_channels: int = 3, attention: str | None = None,
                 attention_stages: tuple[int, ...] | None = None, attention_reduction: int = 16,
                 refine: bool = False, attention_options: dict | None = None, input_size: int = 224) -> None:
        super().__init__()
        if num_frames < MIN_FRAMES:
            raise ValueError(f"num_frames={num_frames}: I3D halves time three times before layer2 and needs "
                             f"at least {MIN_FRAMES} frames (a multiple of 8 keeps T' = T / 8 exact)")
        if attention not in ATTENTION_KINDS:
            raise ValueError(f"attention must be one of {list(ATTENTION_KINDS)}, got {attention!r}")
        if attention_stages is None:
            attention_stages = (2, 3) if attention == "nonlocal" else (1, 2, 3, 4)
        attention_stages = tuple(attention_stages)
        bad_stages = [s for s in attention_stages if s not in range(1, len(inflate) + 1)]
        if attention and bad_stages:
            raise ValueError(f"attention_stages {bad_stages} do not exist: this ResNet has stages 1..{len(inflate)}")
        if refine and attention not in ("w3", "cbam"):
            raise ValueError("refine=True (attention-guided feature refinement) needs attention='w3' or 'cbam'")
        if attention == "nonlocal" and not any(len(inflate[s - 1]) > 1 for s in attention_stages):
            raise ValueError(f"attention='nonlocal' follows blocks 1, 3, 5, ... but stages {list(attention_stages)} "
                             "have one block each: no non-local block would be placed")
        attention_options = attention_options or {}
        sizes, side = {}, -(-input_size // 4)
        for index in range(len(inflate)):
            side = side if index == 0 else -(-side // 2)
            sizes[f"layer{index + 1}"] = side
        check_attention_fits(attention, attention_options,
                             {name: size for name, size in sizes.items() if int(name[5:]) in attention_stages},
                             input_size)
        self.num_frames = num_frames
        self.in_channels = in_channels
        self.conv1 = _conv(in_channels, base_width, (5, 7, 7), (2, 2, 2), (2, 3, 3))
        self.bn1 = nn.BatchNorm3d(base_width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool3d((1, 3, 3), (2, 2, 2), (0, 1, 1))
        self.pool2 = nn.MaxPool3d((2, 1, 1), (2, 1, 1))
        self.feature_info = [dict(num_chs=base_width, reduction_t=4, reduction_s=4, name="stem")]
        channels, reduction_s = base_width, 4
        for index, pattern in enumerate(inflate):
            stride = 1 if index == 0 else 2
            reduction_s *= stride
            out_channels = base_width * 2 ** index * Bottleneck3d.expansion
            attended = attention is not None and index + 1 in attention_stages
            stage = []
            for position, inflated in enumerate(pattern):
                where = f"layer{index + 1}.{position}"
                attend = None
                if attended and attention != "nonlocal":
                    attend = _attention_block(attention, out_channels, attention_reduction, attention_options, where)
                layer = Bottleneck3d(channels, base_width * 2 ** index, stride if position == 0 else 1,
                                     bool(inflated), attend)
                if attended and attention == "nonlocal" and position % 2 == 1:
                    layer = NonLocalWrapper(layer, _attention_block(attention, out_channels, attention_reduction,
                                                                    attention_options, where))
                stage.append(layer)
                channels = out_channels
            self.add_module(f"layer{index + 1}", nn.Sequential(*stage))
            self.feature_info.append(dict(num_chs=channels, reduction_t=4 if index == 0 else 8,
                                          reduction_s=reduction_s, name=f"layer{index + 1}"))
        self.stage_names = [info["name"] for info in self.feature_info]
        self.num_features = channels
        self.attention = attention
        self.attention_stages = tuple(sorted(attention_stages)) if attention else ()
        self.refine = AttentionRefinement(len(self.attention_stages), channels, dims=3) if refine else None
        self.dropout = nn.Dropout(dropout)
        self.head_sizes = tuple(num_classes) if isinstance(num_classes, (tuple, list)) else (num_classes,)
        self.fc = nn.Linear(channels, sum(self.head_sizes))
        self.pretrained_cfg = dict(mean=list(IMAGENET_MEAN), std=list(IMAGENET_STD), num_frames=num_frames,
                                   input_size=input_size, class_names=None)
        self._init_classifier()

    def _init_classifier(self) -> None:
        # MMAction2's I3DHead: init_std=0.01.
        nn.init.normal_(self.fc.weight, 0.0, 0.01)
        nn.init.zeros_(self.fc.bias)

    def _check_input(self, x: Tensor) -> None:
        if x.dim() != 5 or x.shape[1] != self.in_channels:
            raise ValueError(f"expected a clip (N, {self.in_channels}, T, H, W), got {tuple(x.shape)}")
        if x.shape[2] < MIN_FRAMES:
            raise ValueError(f"I3D halves time three times before layer2: a clip of {x.shape[2]} frames is too short, "
                             f"it needs at least {MIN_FRAMES}")

    def forward_features(self, x: Tensor) -> dict[str, Tensor]:
        """Stage outputs ``{"stem", "layer1".."layer4"}``, each ``(N, C, T_j, H_j, W_j)``."""
        self._check_input(x)
        stem = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        layer1 = self.layer1(stem)
        layer2 = self.layer2(self.pool2(layer1))
        layer3 = self.layer3(layer2)
        layer4 = self.layer4(layer3)
        if self.refine is not None:
            layer4 = layer4 + self.refine(list(self.attention_masks().values()), layer4.shape[-3:])
        return {"stem": stem, "layer1": layer1, "layer2": layer2, "layer3": layer3, "layer4": layer4}

    def attention_masks(self) -> dict[str, Tensor]:
        """Spatio-temporal masks ``(N, 1, T_j, H_j, W_j)`` of the last block of each attended stage,
        from the last forward pass (for refinement and pictures)."""
        if self.attention not in ("w3", "cbam"):
            raise ValueError(f"attention_masks() needs a W3 or CBAM model, this one has attention={self.attention!r}")
        masks = {}
        for j in self.attention_stages:
            last = getattr(self, f"layer{j}")[-1].attention.last_masks
            if last is None:
                raise RuntimeError("attention_masks() reads the masks of the last forward pass; run one first")
            masks[f"layer{j}"] = last.spatial
        return masks

    def frame_logits(self, features: dict[str, Tensor]) -> Tensor:
        """Per-time-step class scores ``(N, T', K)`` from the last stage ``(N, C, T', H, W)``."""
        pooled = features[self.stage_names[-1]].mean(dim=(3, 4)).transpose(1, 2)
        return self.fc(self.dropout(pooled))

    def forward_head(self, features: dict[str, Tensor]) -> Tensor:
        """Average of the per-time-step logits: ``(N, K)``."""
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


def inflate_2d_state_dict(state_dict_2d: str | Path | Mapping[str, Tensor], model: ResNet3d) -> dict[str, Tensor]:
    """A 2D ResNet's weights (torchvision / TSN names, a path or a state dict) as weights of ``model``.

    Each 2D kernel ``(O, I, kh, kw)`` whose 3D counterpart is ``(O, I, kt, kh, kw)`` is repeated
    ``kt`` times along time and divided by ``kt`` (I3D Sec. 2.4, "bootstrapping 3D filters from
    2D filters"), so a clip of one repeated image gives the 2D network's activations wherever the temporal
    kernels see no zero padding. BN and classifier tensors pass unchanged; keys go into the
    ``.block.`` of non-local wrappers. Load the result with :func:`vidaction.models.load_pretrained`,
    which reports what stays missing (attention, refinement, a classifier of another size).
    """
    state, _ = read_state_dict(state_dict_2d)
    own = model.state_dict()
    wrapped = {key.replace(".block.", ".", 1): key for key in own if ".block." in key}
    inflated = {}
    for key, value in state.items():
        name = wrapped.get(key, key)
        target = own.get(name)
        if target is not None and target.dim() == 5 and target.shape[:2] + target.shape[3:] == value.shape:
            kernel_t = target.shape[2]
            value = value.unsqueeze(2).repeat(1, 1, kernel_t, 1, 1) / kernel_t
        inflated[name] = value
    return inflated


AttentionStages = tuple[int, ...] | None
NumClasses = int | tuple[int, ...]


@register_model
def i3d_r50(num_classes: NumClasses, num_frames: int, dropout: float = 0.5, base_width: int = 64,
            in_channels: int = 3, attention: str | None = None, attention_stages: AttentionStages = None,
            attention_reduction: int = 16, refine: bool = False, attention_options: dict | None = None,
            input_size: int = 224) -> ResNet3d:
    """I3D ResNet-50 (MMAction2 ``i3d_r50``, 3x1x1 inflation): 28.04 M parameters with 400 classes."""
    return ResNet3d(I3D_R50_INFLATE, **locals())


@register_model
def i3d_tiny(num_classes: NumClasses, num_frames: int, dropout: float = 0.0, base_width: int = 8,
             in_channels: int = 3, attention: str | None = None, attention_stages: AttentionStages = None,
             attention_reduction: int = 4, refine: bool = False, attention_options: dict | None = None,
             input_size: int = 224) -> ResNet3d:
    """An 8-channel I3D with the first block of each ResNet-50 stage (inflated in stages 1-3), for tests."""
    return ResNet3d(tuple(pattern[:1] for pattern in I3D_R50_INFLATE), **locals())
