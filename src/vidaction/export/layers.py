"""Export-friendly equivalents of the operators that do not export or that trace wrong: the same
numbers (tested against the originals in ``tests/export/test_layers.py``), other operators.

=========================================  =====================================================
original                                   why it is replaced at export
=========================================  =====================================================
``TemporalShift`` (TSM)                    an ``autograd.Function`` writing slices into
                                           ``empty_like``: the TorchScript-based ONNX exporter
                                           records it wrongly (6e-3 off on ``tsm_tiny``, the
                                           temporal-shift-module #103 / #189 symptom)
``w3.conv3d_by_frames`` (W3's 3D masks)    ``Tensor.unfold``, which that exporter refuses for a
                                           batch of unknown size
``boundary_pooling.start_end_max_pool``    a sparse table built by a Python loop over
(AFSD's refinement)                        ``T.bit_length()`` levels, with ``trunc``: it neither
                                           traces (T is a tensor while tracing) nor has ONNX ops
``afsd._check_mask``                       reads the mask's values (``bool(...)``), unknown while
                                           ``torch.export`` traces
``adaptive_avg_pool{2,3}d`` of W3's        that exporter takes an adaptive pool only to 1 x 1 or
refinement (eq. 7)                         from an input size it can read, which the masks' is not
=========================================  =====================================================

:class:`ConcatTemporalShift` replaces shift modules (``(N*T, C, H, W) -> (N*T, C, H, W)``), both
modes of :class:`~vidaction.models.layers.temporal_shift.TemporalShift`; :func:`adaptive_avg_pool`
serves the refinement module of :mod:`vidaction.export.prepare`; the other functions replace their
namesakes while a model is traced (:func:`vidaction.export.prepare.traceable`). They compute forward
values only: exported graphs are for inference.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

SHIFT_MODES = ("bidirectional", "online")


class ConcatTemporalShift(nn.Module):
    """TSM's shift by concatenation: ``(N*T, C, H, W) -> (N*T, C, H, W)``.

    ``"bidirectional"``: channels ``[0, C/d)`` of frame ``t`` are frame ``t+1``'s, ``[C/d, 2C/d)``
    frame ``t-1``'s, zeros shifted in at the clip's ends; ``"online"``: channels ``[0, C/d)`` are
    frame ``t-1``'s (zeros at ``t = 0``); the other channels stay.
    """

    def __init__(self, num_frames: int, fold_div: int = 8, mode: str = "bidirectional") -> None:
        super().__init__()
        if mode not in SHIFT_MODES:
            raise ValueError(f"shift mode must be one of {', '.join(SHIFT_MODES)}, got {mode!r}")
        self.num_frames = num_frames
        self.fold_div = fold_div
        self.mode = mode

    @classmethod
    def like(cls, shift: nn.Module) -> ConcatTemporalShift:
        """The equivalent of a ``TemporalShift`` module (``mode`` read with a ``"bidirectional"`` default)."""
        return cls(shift.num_frames, shift.fold_div, getattr(shift, "mode", "bidirectional"))

    def forward(self, x: Tensor) -> Tensor:
        fold = x.shape[1] // self.fold_div
        video = x.view(-1, self.num_frames, *x.shape[1:])
        # F.pad's last pair pads the time axis of (N, T, C, H, W): (1, 0) in front, (0, 1) behind.
        from_past = F.pad(video[:, :-1, :fold], (0, 0, 0, 0, 0, 0, 1, 0))
        if self.mode == "online":
            return torch.cat([from_past, video[:, :, fold:]], dim=2).flatten(0, 1)
        from_future = F.pad(video[:, 1:, :fold], (0, 0, 0, 0, 0, 0, 0, 1))
        from_past = F.pad(video[:, :-1, fold:2 * fold], (0, 0, 0, 0, 0, 0, 1, 0))
        return torch.cat([from_future, from_past, video[:, :, 2 * fold:]], dim=2).flatten(0, 1)

    def extra_repr(self) -> str:
        return f"num_frames={self.num_frames}, fold_div={self.fold_div}, mode={self.mode}"


def conv3d_by_frames(x: Tensor, conv: nn.Conv3d) -> Tensor:
    """:func:`vidaction.models.attention.w3.conv3d_by_frames` with the ``k_t`` temporal neighbours
    stacked from slices instead of ``unfold``: the same 2D convolution of the same windows,
    ``(N, C, T, H, W) -> (N, C_out, T, H, W)``."""
    t, h, w = x.shape[2:]
    kt, kh, kw = conv.kernel_size
    stacked = conv.in_channels * kt  # a Python int: the exporter needs the kernel's shape
    padded = F.pad(x, (0, 0, 0, 0, kt // 2, kt // 2))
    windows = torch.stack([padded[:, :, i:i + t] for i in range(kt)], dim=3)  # (N, C, T, k_t, H, W)
    windows = windows.transpose(1, 2).reshape(-1, stacked, h, w)
    weight = conv.weight.reshape(conv.out_channels, stacked, kh, kw)
    out = F.conv2d(windows, weight, conv.bias, padding=(kh // 2, kw // 2))
    return out.view(-1, t, conv.out_channels, h, w).transpose(1, 2)


def adaptive_avg_pool(x: Tensor, size: Sequence[int]) -> Tensor:
    """``F.adaptive_avg_pool2d`` / ``3d`` as products with constant pooling matrices, one per pooled
    axis: ``(N, C, *in_size) -> (N, C, *size)``. Output cell ``i`` of an axis of ``n`` steps averages
    steps ``[floor(i n / m), ceil((i + 1) n / m))``, PyTorch's adaptive windows; only the order of
    the additions differs. The input's sizes are read as Python ints (fixed when traced)."""
    last = x.dim() - 1
    for axis, out_steps in zip(range(x.dim() - len(size), x.dim()), size):
        steps = int(x.shape[axis])
        windows = [(i * steps // out_steps, -(-(i + 1) * steps // out_steps)) for i in range(out_steps)]
        matrix = torch.tensor([[1.0 / (end - start) if start <= j < end else 0.0 for j in range(steps)]
                               for start, end in windows], dtype=x.dtype, device=x.device)
        x = (x.transpose(axis, last) @ matrix.T).transpose(axis, last)
    return x


def boundary_max_pool(features: Tensor, segments: Tensor, lengths: Tensor) -> Tensor:
    """:func:`vidaction.models.layers.boundary_pooling.boundary_max_pool`'s values as one masked
    maximum: ``(B, C, T), (B, N, 2), (B,) -> (B, C, N)``.

    The same regions (coordinates truncated toward zero, which is ``floor`` once they are clamped to
    ``[0, lengths - 1]``; an empty region is its start; NaN counts as 0), each maximum taken over a
    ``(B, C, N, T)`` masked copy of ``features`` instead of a sparse table: memory ``B * C * N * T``
    (33 MB for each half of AFSD's frame-level pooling: 256 channels, 126 locations, a 256-frame
    window), fine at inference. ``lengths`` are at most ``T``, as the detector's valid lengths are.
    """
    last = (lengths.clamp(min=1) - 1).to(segments.dtype).unsqueeze(1)
    coords = torch.nan_to_num(segments, nan=0.0).floor()
    starts = torch.minimum(coords[..., 0].clamp(min=0), last)
    ends = torch.maximum(torch.minimum(coords[..., 1].clamp(min=0), last), starts)
    position = torch.arange(features.shape[-1], device=features.device).to(segments.dtype)
    inside = (position >= starts.unsqueeze(-1)) & (position <= ends.unsqueeze(-1))  # (B, N, T)
    return features.unsqueeze(2).masked_fill(~inside.unsqueeze(1), float("-inf")).amax(dim=-1)


def start_end_max_pool(features: Tensor, start_regions: Tensor, end_regions: Tensor, lengths: Tensor) -> Tensor:
    """:func:`vidaction.models.layers.boundary_pooling.start_end_max_pool` by :func:`boundary_max_pool`:
    ``(B, 2D, T), (B, N, 2), (B, N, 2), (B,) -> (B, 2D, N)``, the first half of the channels over the
    start regions, the second over the end regions."""
    half = features.shape[1] // 2
    return torch.cat([boundary_max_pool(features[:, :half], start_regions, lengths),
                      boundary_max_pool(features[:, half:], end_regions, lengths)], dim=1)


def check_mask(mask: Tensor) -> None:
    """The detector's mask check without reading values: a ``(B, T)`` bool tensor. That it marks a
    non-empty prefix of each window is the caller's to keep (the sidecar says so)."""
    if mask.dim() != 2 or mask.dtype != torch.bool:
        raise ValueError(f"mask {tuple(mask.shape)} {mask.dtype} must be a (B, T) bool tensor")
