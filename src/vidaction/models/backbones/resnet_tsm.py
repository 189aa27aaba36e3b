"""2D ResNet video classifiers: TSN (Wang et al., ECCV 2016) and TSM (Lin et al., ICCV 2019).

Each of the T frames of a clip ``(N, 3, T, H, W)`` goes through a 2D ResNet as a batch of
``(N*T, 3, H, W)`` images; per-frame logits ``(N, T, K)`` are averaged over T, ``(N, K)`` (TSN's
"average consensus", :mod:`vidaction.models.heads.classifier`). The network is the shared
:class:`~vidaction.models.backbones.video_resnet.VideoResNet` with ``FRAME`` (Conv2d) blocks::

    stem    7x7, 64, stride 2, BN, ReLU, 3x3 max pool stride 2     (N, 64, T, 56, 56)   for 224
    layer1  blocks of 64 (x4 for bottlenecks)                       (N, 256, T, 56, 56)
    layer2 .. layer4, first block with spatial stride 2             (N, 2048, T, 7, 7)
TSM adds a temporal shift of 1/``shift_div`` of the channels each way (zero padded) on the residual
branch before ``conv1`` of every block, the published "blockres" placement; it costs no parameters
and no multiply-accumulates. ``shift_mode="online"`` shifts one fold from the previous frame only (TSM's
online model, Sec. 5): frame t's scores depend on frames <= t, and :mod:`vidaction.inference` runs it on a
stream frame by frame with a cached fold per block.

``attention="w3"`` (or ``"cbam"``) puts an attention block on the residual branch of every block of
the stages in ``attention_stages`` (default all four), after the last BatchNorm and before the
addition (W3 Sec. 3.3; the placement of image attention modules). ``attention="nonlocal"`` follows
TSM-NL instead (the non-local baseline of W3's Table 6): a non-local block after every other
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

from vidaction.models.backbones.video_resnet import BasicBlock, Bottleneck, Stem, VideoResNet
from vidaction.models.heads.classifier import NumClasses
from vidaction.models.layers.video_conv import FRAME
from vidaction.models.registry import register_model

__all__ = ["BasicBlock", "Bottleneck", "ResNetTSM"]


class ResNetTSM(VideoResNet):
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
        shift_mode: ``"bidirectional"`` (offline TSM) or ``"online"`` (uni-directional, from the past).
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

    # TSN/TSM initialise the new classifier with std 0.001 so fine-tuning starts near uniform scores.
    classifier_init_std = 0.001
    attention_inplace = True

    def __init__(self, block: type[BasicBlock] | type[Bottleneck], layers: tuple[int, ...], num_classes: NumClasses,
                 num_frames: int, shift: bool, shift_div: int = 8, shift_mode: str = "bidirectional",
                 dropout: float = 0.5, base_width: int = 64,
                 in_channels: int = 3, attention: str | None = None,
                 attention_stages: tuple[int, ...] | None = None, attention_reduction: int = 16,
                 refine: bool = False, attention_options: dict | None = None, input_size: int = 224) -> None:
        if num_frames < 1:
            raise ValueError(f"num_frames must be >= 1, got {num_frames}")
        super().__init__(block, [(FRAME,) * count for count in layers], Stem(FRAME), num_classes, num_frames,
                         dropout, base_width, in_channels, shift_div=shift_div if shift else None,
                         shift_mode=shift_mode, attention=attention, attention_stages=attention_stages,
                         attention_reduction=attention_reduction, refine=refine,
                         attention_options=attention_options, input_size=input_size)
        self.is_shift = shift

    def _init_weights(self) -> None:
        # Every conv (attention's included), in module order, after the whole network is built.
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
        self.init_classifier()

    def _check_input(self, x: Tensor) -> None:
        super()._check_input(x)
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
            features[self.stage_names[-1]] = self.refined(out)
        return {k: v.view(n, t, *v.shape[1:]).transpose(1, 2) for k, v in features.items()}


AttentionStages = tuple[int, ...] | None


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
def tsm_r18(num_classes: NumClasses, num_frames: int, dropout: float = 0.5, shift_div: int = 8,
            shift_mode: str = "bidirectional", base_width: int = 64,
            in_channels: int = 3, attention: str | None = None, attention_stages: AttentionStages = None,
            attention_reduction: int = 16, refine: bool = False, attention_options: dict | None = None,
            input_size: int = 224) -> ResNetTSM:
    """TSM (blockres shift) with a ResNet-18 backbone."""
    return ResNetTSM(BasicBlock, (2, 2, 2, 2), shift=True, **locals())


@register_model
def tsm_r50(num_classes: NumClasses, num_frames: int, dropout: float = 0.5, shift_div: int = 8,
            shift_mode: str = "bidirectional", base_width: int = 64,
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
def tsm_tiny(num_classes: NumClasses, num_frames: int, dropout: float = 0.0, shift_div: int = 8,
             shift_mode: str = "bidirectional", base_width: int = 8,
             in_channels: int = 3, attention: str | None = None, attention_stages: AttentionStages = None,
             attention_reduction: int = 4, refine: bool = False, attention_options: dict | None = None,
             input_size: int = 224) -> ResNetTSM:
    """A one-block-per-stage, 8-channel TSM for tests."""
    return ResNetTSM(BasicBlock, (1, 1, 1, 1), shift=True, **locals())
