"""One factory for the plug-in attention blocks, used by every backbone (as timm's
``layers/create_attn.py``): ``create_attention(kind, channels, ...)``.

=============  ==============================================================  ======================
kind           block                                                           paper
=============  ==============================================================  ======================
``"w3"``       :class:`W3Attention`, channel-temporal then spatio-temporal     W3 Sec. 3, eqs. 2-6
``"cbam"``     :class:`CBAM`, per-frame channel then spatial attention         W3 Table 6 baseline
``"nonlocal"`` :class:`NonLocalBlock`, embedded Gaussian over ``T*H*W``        W3 Table 6 baseline
``None``/``""`` no block (the factory returns ``None``, not an identity)
=============  ==============================================================  ======================

Every block maps ``(N*T, C, H, W)`` (2D backbones, built with ``num_frames=T``) or
``(N, C, T, H, W)`` (3D backbones, ``num_frames=None``) to the same shape. Where a block goes (on
the residual branch of a block, W3 Sec. 3.3, or after a block, the non-local paper) is the
backbone's business; so is :func:`check_attention_fits`, which a backbone calls at build time
with its stage sizes.
"""

from __future__ import annotations

from collections.abc import Mapping

from torch import nn

from vidaction.models.attention.cbam import CBAM
from vidaction.models.attention.nonlocal_block import NonLocalBlock
from vidaction.models.attention.w3 import W3Attention

ATTENTION_KINDS = (None, "w3", "cbam", "nonlocal")
# Blocks that keep ``last_masks`` (for W3's refinement, eqs. 7-8, and pictures).
MASK_KINDS = ("w3", "cbam")


def check_attention_kind(kind: str | None) -> None:
    """Raise ``ValueError`` listing the known kinds unless ``kind`` is one of them, ``None`` or ``""``."""
    if kind and kind not in ATTENTION_KINDS:
        raise ValueError(f"attention must be one of {list(ATTENTION_KINDS)} (or ''), got {kind!r}")


def create_attention(kind: str | None, channels: int, num_frames: int | None = None, reduction: int = 16,
                     options: Mapping | None = None, inplace: bool = False,
                     where: str = "the block") -> nn.Module | None:
    """The attention block ``kind`` for ``channels``-channel features, or ``None`` for ``None`` / ``""``.

    Args:
        kind: ``"w3"``, ``"cbam"``, ``"nonlocal"``, ``None`` or ``""``.
        channels: C of the features.
        num_frames: T of ``(N*T, C, H, W)`` inputs; ``None`` for ``(N, C, T, H, W)``.
        reduction: r of the channel MLPs (W3, CBAM; the non-local block has none).
        options: other keyword arguments of the block's class, e.g. W3's ``{"use_spatial": False}``.
        inplace: let W3 / CBAM multiply their masks into the input at inference (a backbone that owns
            the tensor it passes); ``options`` may override it.
        where: the layer the block is for, named in errors.

    Raises ``ValueError`` for an unknown kind (listing the known ones) or ``options`` the block's
    class does not take (naming ``where``).
    """
    check_attention_kind(kind)
    if not kind:
        return None
    options = dict(options or {})
    try:
        if kind == "w3":
            return W3Attention(channels, num_frames, reduction, **{"inplace": inplace, **options})
        if kind == "cbam":
            return CBAM(channels, reduction, **{"inplace": inplace, **options})
        return NonLocalBlock(channels, num_frames, **options)
    except TypeError as exc:
        raise ValueError(f"attention_options {options} do not fit {kind!r} at {where}: {exc}") from exc


def check_attention_fits(kind: str | None, options: Mapping, stage_sizes: Mapping[str, int], input_size: int) -> None:
    """Refuse W3/CBAM on a stage whose ``size x size`` feature maps are smaller than the spatial kernel."""
    if kind not in MASK_KINDS:
        return
    kernel = options.get("spatial_kernel", 7)
    for where, size in stage_sizes.items():
        if size < kernel:
            raise ValueError(f"{where}: a {input_size}x{input_size} input gives {size}x{size} feature maps, smaller "
                             f"than the {kernel}x{kernel} spatial kernel of {kind!r}; drop the stage from "
                             "attention_stages, lower attention_options.spatial_kernel or raise input_size")
