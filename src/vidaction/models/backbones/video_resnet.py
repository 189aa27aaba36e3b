"""One video ResNet core: the residual blocks, the stage builder and :class:`VideoResNet`, from
which TSN/TSM (:mod:`.resnet_tsm`), I3D-R50 (:mod:`.resnet3d`), R2D-50 and R(2+1)D-101
(:mod:`.r2plus1d`) are built, as torchvision builds r3d, mc3 and r(2+1)d from one ``VideoResNet``
with different ``conv_makers``. What differs between them is data, not code:

- the :class:`~vidaction.models.layers.video_conv.ConvType` of each block (2D frames, 1x3x3 only,
  I3D's 3x1x1 inflation, R(2+1)D's separate 3x1x1 conv);
- the :class:`Stem` (conv1 ``k_t x 7 x 7`` stride ``(s_t, 2, 2)``, BN, ReLU, ``1x3x3`` max pool
  stride ``(p_t, 2, 2)``) and the temporal stride of each stage's first block;
- TSM's temporal shift before every block's first conv (``shift_div``, ``shift_mode``);
- the attention of :func:`~vidaction.models.attention.factory.create_attention`: W3 / CBAM on the
  residual branch of every block of ``attention_stages``, after the last BN and before the
  addition (W3 Sec. 3.3), or a non-local block after every other block, wrapped as
  ``layerX.Y.block`` / ``layerX.Y.nl`` (the official TSM-NL and MMAction2 layouts); W3's
  attention-guided feature refinement (Sec. 3.4, eqs. 7-8) on the last stage (``refine``);
- modules appended to a stage after its blocks (``stage_tail``: HCML's prime motion blocks).

Stages are ``layer1`` .. ``layer4`` (``nn.Sequential``), each starting with a block of spatial
stride 2 but the first; widths ``base_width * 2^j * expansion``. Parameter names follow
torchvision's ResNet (``conv1``, ``bn1``, ``layer1.0.conv1``, ``layerX.0.downsample.0``, ``fc``),
so ImageNet and official TSM weights load key for key (:func:`inflate_2d_state_dict` for 3D).
Shapes: clips ``(N, C_in, T, H, W)``; 2D stages see ``(N*T, C, H, W)``, 3D ones ``(N, C, T, H, W)``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from torch import Tensor, nn

from vidaction.config import IMAGENET_MEAN, IMAGENET_STD
from vidaction.models.attention.factory import MASK_KINDS, check_attention_fits, check_attention_kind, create_attention
from vidaction.models.attention.refinement import AttentionRefinement
from vidaction.models.heads.classifier import NumClasses, VideoClassifier
from vidaction.models.layers.temporal_shift import TemporalShift
from vidaction.models.layers.video_conv import ConvType
from vidaction.models.pretrained import read_state_dict


class ResidualBlock(nn.Module):
    """``relu(residual(x) + shortcut(x))``; the residual branch starts with TSM's shift (if any)
    and ends with the attention block (if any). Subclasses build the convs."""

    expansion = 1

    def __init__(self, shift: nn.Module | None, attention: nn.Module | None) -> None:
        super().__init__()
        self.shift = shift
        self.attention = attention

    def _shifted(self, x: Tensor) -> Tensor:
        return self.shift(x) if self.shift is not None else x

    def _attended(self, out: Tensor) -> Tensor:
        return self.attention(out) if self.attention is not None else out

    def forward(self, x: Tensor) -> Tensor:
        identity = self.downsample(x) if self.downsample is not None else x
        return self.relu(self.residual(x) + identity)


def _downsample(conv_type: ConvType, in_channels: int, out_channels: int, stride: int,
                temporal_stride: int) -> nn.Sequential | None:
    if stride == 1 and temporal_stride == 1 and in_channels == out_channels:
        return None
    return nn.Sequential(conv_type.conv(in_channels, out_channels, (1, 1, 1), (temporal_stride, stride, stride)),
                         conv_type.norm(out_channels))


class BasicBlock(ResidualBlock):
    """Two ``1x3x3`` convs (ResNet-18/34): ``(.., C_in, [T,] H, W) -> (.., C, [T / s_t,] H / s, W / s)``."""

    def __init__(self, in_channels: int, channels: int, conv_type: ConvType, stride: int = 1,
                 temporal_stride: int = 1, shift: nn.Module | None = None, attention: nn.Module | None = None) -> None:
        super().__init__(shift, attention)
        if conv_type.first_t != 1 or conv_type.temporal_conv:
            raise ValueError(f"BasicBlock has 1x3x3 convs only, not {conv_type}")
        self.conv1 = conv_type.conv(in_channels, channels, (1, 3, 3), (temporal_stride, stride, stride), (0, 1, 1))
        self.bn1 = conv_type.norm(channels)
        self.conv2 = conv_type.conv(channels, channels, (1, 3, 3), padding=(0, 1, 1))
        self.bn2 = conv_type.norm(channels)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = _downsample(conv_type, in_channels, channels, stride, temporal_stride)

    def residual(self, x: Tensor) -> Tensor:
        out = self.relu(self.bn1(self.conv1(self._shifted(x))))
        return self._attended(self.bn2(self.conv2(out)))


class Bottleneck(ResidualBlock):
    """``first_t x1x1 -> (3x1x1) -> 1x3x3 -> 1x1x1`` convs, each followed by BN and ReLU (the last
    ReLU after the addition): ``(.., C_in, [T,] H, W) -> (.., 4C, [T / s_t,] H / s, W / s)``.

    The spatial stride s sits on the ``1x3x3`` conv (ResNet v1.5); the temporal stride s_t on the
    ``3x1x1`` conv if there is one (``temporal_conv``, named ``temporal_conv`` / ``temporal_bn``),
    else on the ``1x3x3`` conv. The shortcut is a strided ``1x1x1`` conv + BN where shapes change.
    """

    expansion = 4

    def __init__(self, in_channels: int, channels: int, conv_type: ConvType, stride: int = 1,
                 temporal_stride: int = 1, shift: nn.Module | None = None, attention: nn.Module | None = None) -> None:
        super().__init__(shift, attention)
        kernel_t = conv_type.first_t
        self.conv1 = conv_type.conv(in_channels, channels, (kernel_t, 1, 1), padding=(kernel_t // 2, 0, 0))
        self.bn1 = conv_type.norm(channels)
        self.temporal_conv = self.temporal_bn = None
        spatial_stride_t = temporal_stride
        if conv_type.temporal_conv:
            self.temporal_conv = conv_type.conv(channels, channels, (3, 1, 1), (temporal_stride, 1, 1), (1, 0, 0))
            self.temporal_bn = conv_type.norm(channels)
            spatial_stride_t = 1
        self.conv2 = conv_type.conv(channels, channels, (1, 3, 3), (spatial_stride_t, stride, stride), (0, 1, 1))
        self.bn2 = conv_type.norm(channels)
        self.conv3 = conv_type.conv(channels, channels * 4, (1, 1, 1))
        self.bn3 = conv_type.norm(channels * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = _downsample(conv_type, in_channels, channels * 4, stride, temporal_stride)

    def residual(self, x: Tensor) -> Tensor:
        out = self.relu(self.bn1(self.conv1(self._shifted(x))))
        if self.temporal_conv is not None:
            out = self.relu(self.temporal_bn(self.temporal_conv(out)))
        out = self.relu(self.bn2(self.conv2(out)))
        return self._attended(self.bn3(self.conv3(out)))


class NonLocalWrapper(nn.Module):
    """A residual block followed by a non-local block: ``(.., C_in, [T,] H, W) -> (.., C, [T',] H', W')``."""

    def __init__(self, block: nn.Module, nl: nn.Module) -> None:
        super().__init__()
        self.block = block
        self.nl = nl

    def forward(self, x: Tensor) -> Tensor:
        return self.nl(self.block(x))


def make_stage(block: type[ResidualBlock], in_channels: int, channels: int, conv_types: Sequence[ConvType],
               stride: int = 1, temporal_stride: int = 1, name: str = "layer",
               shift: Callable[[], nn.Module] | None = None, attention: str | None = None,
               attention_args: Mapping | None = None, nonlocal_offset: int = 0) -> nn.Sequential:
    """One stage: a ``block`` per entry of ``conv_types``, the first with the strides.

    ``shift`` makes each block's temporal shift; ``attention`` (``"w3"`` / ``"cbam"``: inside
    every block, ``"nonlocal"``: after blocks ``nonlocal_offset``, ``+2``, ``+4``, ...) is built by
    :func:`create_attention` with ``attention_args`` (``num_frames``, ``reduction``, ``options``,
    ``inplace``). Output ``channels * block.expansion`` channels.
    """
    layers, out_channels, attention_args = [], channels * block.expansion, attention_args or {}
    for position, conv_type in enumerate(conv_types):
        where = f"{name}.{position}"
        inner = create_attention(attention, out_channels, where=where, **attention_args) \
            if attention != "nonlocal" else None
        first = position == 0
        layer = block(in_channels, channels, conv_type, stride if first else 1, temporal_stride if first else 1,
                      shift() if shift is not None else None, inner)
        if attention == "nonlocal" and position % 2 == nonlocal_offset:
            layer = NonLocalWrapper(layer, create_attention(attention, out_channels, where=where, **attention_args))
        layers.append(layer)
        in_channels = out_channels
    return nn.Sequential(*layers)


@dataclass(frozen=True)
class Stem:
    """conv1 ``kernel_t x 7 x 7`` stride ``(stride_t, 2, 2)``, BN, ReLU, then a ``1x3x3`` max pool
    stride ``(pool_stride_t, 2, 2)``; the ``"stem"`` feature is the pool's output, or conv1's
    (``pooled_feature=False``, HCML's Table 5)."""

    conv_type: ConvType
    kernel_t: int = 1
    stride_t: int = 1
    pool_stride_t: int = 1
    pooled_feature: bool = True


class VideoResNet(VideoClassifier):
    """The shared core: ``(N, C_in, T, H, W) -> (N, num_classes)``; subclasses add ``forward_features``.

    Args:
        block: :class:`BasicBlock` or :class:`Bottleneck`.
        conv_types: per stage, per block, its :class:`ConvType`; the shape gives the depth.
        stem: the :class:`Stem`.
        num_classes: classifier size K, or one size per head (scores side by side, head order).
        num_frames: T the model is built for.
        dropout, base_width, in_channels: before the classifier; stem width; input channels.
        temporal_strides: temporal stride of each stage's first block.
        stage_names: feature names of the stages (``layer1`` .. by default; modules are ``layerX``).
        shift_div: TSM's shift of 1/shift_div channels each way before every block (``None``: no shift).
        shift_mode: ``"bidirectional"`` or ``"online"`` (one fold from the past only), see
            :class:`~vidaction.models.layers.temporal_shift.TemporalShift`.
        pool2: a ``2x1x1`` max pool halving T between layer1 and layer2 (MMAction2's ``with_pool2``).
        attention, attention_stages, attention_reduction, attention_options, refine: as the builders.
        input_size: the frame side the model is built for (checked against W3/CBAM's kernel).
        stage_tail: modules appended to a stage after its blocks, from its name and channels.
    """

    attention_inplace = False
    nonlocal_offset = 0

    def __init__(self, block: type[ResidualBlock], conv_types: Sequence[Sequence[ConvType]], stem: Stem,
                 num_classes: NumClasses, num_frames: int, dropout: float = 0.5, base_width: int = 64,
                 in_channels: int = 3, temporal_strides: Sequence[int] | None = None,
                 stage_names: Sequence[str] | None = None, shift_div: int | None = None,
                 shift_mode: str = "bidirectional", pool2: bool = False,
                 attention: str | None = None, attention_stages: Sequence[int] | None = None,
                 attention_reduction: int = 16, refine: bool = False, attention_options: dict | None = None,
                 input_size: int = 224,
                 stage_tail: Callable[[str, int], Sequence[nn.Module]] | None = None) -> None:
        attention = attention or None
        check_attention_kind(attention)
        if attention_stages is None:
            attention_stages = (2, 3) if attention == "nonlocal" else (1, 2, 3, 4)
        attention_stages = tuple(attention_stages)
        self._check_attention(conv_types, attention, attention_stages, refine, attention_options or {}, input_size)
        super().__init__()
        self.num_frames = num_frames
        self.in_channels = in_channels
        dims = stem.conv_type.dims
        self.conv1 = stem.conv_type.conv(in_channels, base_width, (stem.kernel_t, 7, 7), (stem.stride_t, 2, 2),
                                         (stem.kernel_t // 2, 3, 3))
        self.bn1 = stem.conv_type.norm(base_width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = stem.conv_type.max_pool((1, 3, 3), (stem.pool_stride_t, 2, 2), (0, 1, 1))
        if pool2:
            self.pool2 = nn.MaxPool3d((2, 1, 1), (2, 1, 1))
        reduction_t, reduction_s = stem.stride_t * stem.pool_stride_t, 4
        stem_t, stem_s = (reduction_t, reduction_s) if stem.pooled_feature else (stem.stride_t, 2)
        self.feature_info = [dict(num_chs=base_width, reduction_t=stem_t, reduction_s=stem_s, name="stem")]
        attention_args = dict(num_frames=num_frames if dims == 2 else None, reduction=attention_reduction,
                              options=attention_options, inplace=self.attention_inplace)
        temporal_strides = temporal_strides or (1,) * len(conv_types)
        shift = (lambda: TemporalShift(num_frames, shift_div, shift_mode)) if shift_div else None
        channels = base_width
        for index, types in enumerate(conv_types):
            stride, width = 1 if index == 0 else 2, base_width * 2 ** index
            reduction_t *= temporal_strides[index] * (2 if pool2 and index == 1 else 1)
            reduction_s *= stride
            stage = make_stage(block, channels, width, types, stride, temporal_strides[index],
                               name=f"layer{index + 1}", shift=shift,
                               attention=attention if index + 1 in attention_stages else None,
                               attention_args=attention_args, nonlocal_offset=self.nonlocal_offset)
            channels = width * block.expansion
            name = stage_names[index] if stage_names else f"layer{index + 1}"
            stage.extend(stage_tail(name, channels) if stage_tail else ())
            self.add_module(f"layer{index + 1}", stage)
            self.feature_info.append(dict(num_chs=channels, reduction_t=reduction_t, reduction_s=reduction_s,
                                          name=name))
        self.stage_names = [info["name"] for info in self.feature_info]
        self.attention = attention
        self.attention_stages = tuple(sorted(attention_stages)) if attention else ()
        self.refine = AttentionRefinement(len(self.attention_stages), channels, dims=dims) if refine else None
        self.add_classifier(channels, num_classes, dropout)
        self.pretrained_cfg = dict(mean=list(IMAGENET_MEAN), std=list(IMAGENET_STD), num_frames=num_frames,
                                   input_size=input_size, class_names=None)
        self._init_weights()

    def _check_attention(self, conv_types: Sequence[Sequence[ConvType]], attention: str | None,
                         attention_stages: tuple[int, ...], refine: bool, options: dict, input_size: int) -> None:
        bad_stages = [s for s in attention_stages if s not in range(1, len(conv_types) + 1)]
        if attention and bad_stages:
            raise ValueError(f"attention_stages {bad_stages} do not exist: this ResNet has stages 1..{len(conv_types)}")
        if refine and attention not in MASK_KINDS:
            raise ValueError("refine=True (attention-guided feature refinement) needs attention='w3' or 'cbam'")
        offset = self.nonlocal_offset
        if attention == "nonlocal" and not any(len(conv_types[s - 1]) > offset for s in attention_stages):
            raise ValueError(f"attention='nonlocal' follows blocks {offset}, {offset + 2}, {offset + 4}, ... but "
                             f"stages {list(attention_stages)} have at most {offset} block(s): no non-local block "
                             "would be placed")
        side, sides = -(-input_size // 4), {}
        for index in range(len(conv_types)):
            side = side if index == 0 else -(-side // 2)
            if index + 1 in attention_stages:
                sides[f"layer{index + 1}"] = side
        check_attention_fits(attention, options, sides, input_size)

    def _init_weights(self) -> None:
        self.init_classifier()

    def _check_input(self, x: Tensor) -> None:
        if x.dim() != 5 or x.shape[1] != self.in_channels:
            raise ValueError(f"expected a clip (N, {self.in_channels}, T, H, W), got {tuple(x.shape)}")

    def attention_masks(self) -> dict[str, Tensor]:
        """Spatial masks ``(N, 1, T_j, H_j, W_j)`` of the last block of each attended stage, from the
        last forward pass (for refinement and pictures)."""
        if self.attention not in MASK_KINDS:
            raise ValueError(f"attention_masks() needs a W3 or CBAM model, this one has attention={self.attention!r}")
        masks = {}
        for j in self.attention_stages:
            last = getattr(self, f"layer{j}")[-1].attention.last_masks
            if last is None:
                raise RuntimeError("attention_masks() reads the masks of the last forward pass; run one first")
            spatial = last.spatial
            if spatial.dim() == 4:  # (N*T, 1, H, W) of a 2D backbone
                spatial = spatial.view(-1, self.num_frames, *spatial.shape[1:]).transpose(1, 2)
            masks[f"layer{j}"] = spatial
        return masks

    def refined(self, last_stage: Tensor) -> Tensor:
        """W3's eq. 8 on the last stage, ``(N*T, C, H, W)`` or ``(N, C, T, H, W)``, from the masks
        of the forward pass that computed it."""
        masks = list(self.attention_masks().values())
        if last_stage.dim() == 4:
            masks = [m.transpose(1, 2).flatten(0, 1) for m in masks]
        return last_stage + self.refine(masks, last_stage.shape[2:])


def inflate_2d_state_dict(state_dict_2d: str | Path | Mapping[str, Tensor], model: nn.Module) -> dict[str, Tensor]:
    """A 2D ResNet's weights (torchvision / TSN / TSM names, a path or a state dict) as weights of ``model``.

    Each 2D kernel ``(O, I, kh, kw)`` whose 3D counterpart is ``(O, I, kt, kh, kw)`` is repeated
    ``kt`` times along time and divided by ``kt`` (I3D Sec. 2.4, "bootstrapping 3D filters from
    2D filters"), so a clip of one repeated image gives the 2D network's activations wherever the
    temporal kernels see no zero padding; a ``1 x kh x kw`` kernel just gains the time axis (every
    kernel of R2D-50, which then computes the 2D network on the frames its strides keep). BN and
    classifier tensors pass unchanged; keys go into the ``.block.`` of non-local wrappers. Load the
    result with :func:`vidaction.models.load_pretrained`, which reports what stays missing
    (attention, refinement, R(2+1)D's ``temporal_conv``, a classifier of another size).
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
