"""Inflated 3D ResNet-50 (I3D, Carreira & Zisserman, CVPR 2017): the "I3D 3D R50" of W3's Table 1
and the I3D baseline of its supplementary (Table 8), with W3 / CBAM / non-local attention.

The network, the shared :class:`~vidaction.models.backbones.video_resnet.VideoResNet` with
``INFLATED`` / ``SPATIAL`` bottlenecks, is the ResNet-50 I3D baseline of the Non-local paper (Wang
et al., CVPR 2018: the ResNet-50 of its Table 1, inflated as in its Sec. 4) exactly as MMAction2
builds ``i3d_r50`` (``configs/_base_/models/i3d_r50.py`` with ``ResNet3d``'s defaults). Shapes for
a ``32 x 224 x 224`` clip::

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
non-local block after blocks 1, 3, 5, ... of ``attention_stages`` (default 2 and 3: blocks
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

from torch import Tensor

from vidaction.models.backbones.video_resnet import Bottleneck, Stem, VideoResNet, inflate_2d_state_dict
from vidaction.models.heads.classifier import NumClasses
from vidaction.models.layers.video_conv import INFLATED, SPATIAL
from vidaction.models.registry import register_model

__all__ = ["I3D_R50_INFLATE", "ResNet3d", "inflate_2d_state_dict"]

I3D_R50_INFLATE = ((1, 1, 1), (1, 0, 1, 0), (1, 0, 1, 0, 1, 0), (0, 1, 0))

# conv1, the max pool and pool2 each halve T (rounding as their kernels and paddings do), so
# layer2 gets ceil(T / 4) // 2 steps: at least one needs T >= 5.
MIN_FRAMES = 5


class ResNet3d(VideoResNet):
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

    # MMAction2's non_local=((0, 0, 0), (0, 1, 0, 1), ...): after blocks 1, 3, 5, ...
    nonlocal_offset = 1

    def __init__(self, inflate: tuple[tuple[int, ...], ...], num_classes: NumClasses, num_frames: int,
                 dropout: float = 0.5, base_width: int = 64, in_channels: int = 3, attention: str | None = None,
                 attention_stages: tuple[int, ...] | None = None, attention_reduction: int = 16,
                 refine: bool = False, attention_options: dict | None = None, input_size: int = 224) -> None:
        if num_frames < MIN_FRAMES:
            raise ValueError(f"num_frames={num_frames}: I3D halves time three times before layer2 and needs "
                             f"at least {MIN_FRAMES} frames (a multiple of 8 keeps T' = T / 8 exact)")
        conv_types = [tuple(INFLATED if inflated else SPATIAL for inflated in pattern) for pattern in inflate]
        super().__init__(Bottleneck, conv_types, Stem(SPATIAL, kernel_t=5, stride_t=2, pool_stride_t=2),
                         num_classes, num_frames, dropout, base_width, in_channels, pool2=True, attention=attention,
                         attention_stages=attention_stages, attention_reduction=attention_reduction, refine=refine,
                         attention_options=attention_options, input_size=input_size)

    def _check_input(self, x: Tensor) -> None:
        super()._check_input(x)
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
            layer4 = self.refined(layer4)
        return {"stem": stem, "layer1": layer1, "layer2": layer2, "layer3": layer3, "layer4": layer4}


AttentionStages = tuple[int, ...] | None


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
