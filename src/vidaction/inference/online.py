"""Online recognition with TSM's uni-directional shift (Lin et al., TSM, ICCV 2019, Sec. 5): a frame in,
its scores out, one cached fold per shifted layer.

A TSM network built with ``shift_mode="online"`` gives channels ``[0, C/d)`` of frame ``t`` the values
of frame ``t-1`` at every shift and takes nothing from the future, so on a clip of T frames the
per-frame logits ``model.frame_logits(...)[:, t]`` (``(N, T, K)``, before the average consensus)
depend on frames ``<= t`` only. A stream therefore needs one 2D forward per frame:
:class:`OnlineTSM` replaces each shift by a :class:`BufferedShift` that puts the previous frame's
fold (a buffer ``(B, C_l / d, H_l, W_l)``) in front of the current frame's other channels and hands
the current frame's fold on. As TSM's online demo exports its MobileNetV2, the buffers are explicit
inputs and outputs, ``forward(frame, *buffers) -> (scores, *new_buffers)``, so the module traces
to TorchScript and exports to ONNX; :class:`OnlineRecognizer` holds them between frames.

Scores: the online scores of frame ``t`` are the offline model's per-frame logits of frame ``t`` on
the same frames (``frame_logits[:, t]``; equal to float rounding, tested to 1e-5 for TSM-R50 and
TSM-MobileNetV2), raw logits, not probabilities. ``smooth=n`` averages the logits of the last ``n``
frames, as TSM's demo averages its last 12 before the argmax (``HISTORY_LOGIT``); with ``n = T``
the scores after frame ``T-1`` are the offline clip prediction (average consensus) of frames
``0 .. T-1``. A stream may run past T frames: the shifts carry information one frame per shifted
layer, so frame ``t`` sees at most the previous 16 frames (ResNet-50) or 10 (MobileNetV2).
"""

from __future__ import annotations

import copy
from collections import deque
from collections.abc import Mapping

import numpy as np
import torch
from torch import Tensor, nn

from vidaction.data.transforms import CenterCrop, Normalize, Resize
from vidaction.models.backbones.mobilenet_v2_tsm import MobileNetV2TSM
from vidaction.models.backbones.resnet_tsm import ResNetTSM
from vidaction.models.layers.temporal_shift import TemporalShift


class BufferedShift(nn.Module):
    """The online shift for one frame per stream, its state explicit: ``x: (B, C, H, W) -> (B, C, H, W)``
    whose channels ``[0, C/d)`` are ``previous`` (the previous frame's, zeros when ``None``: a stream's
    first frame); ``x``'s own first fold is left in ``current`` for the next frame."""

    def __init__(self, fold_div: int) -> None:
        super().__init__()
        self.fold_div = fold_div
        self.previous: Tensor | None = None
        self.current: Tensor | None = None

    def forward(self, x: Tensor) -> Tensor:
        fold = x.shape[1] // self.fold_div
        self.current = x[:, :fold].clone()
        previous = self.previous if self.previous is not None else torch.zeros_like(self.current)
        return torch.cat((previous, x[:, fold:]), dim=1)


def check_online(model: nn.Module) -> None:
    """Refuse a network whose frame ``t`` depends on later frames (or that is not a per-frame 2D one)."""
    if not isinstance(model, (ResNetTSM, MobileNetV2TSM)):
        raise ValueError(f"online recognition runs TSN/TSM 2D networks (tsm_*, tsn_*, tsm_mobilenet_v2), not "
                         f"{type(model).__name__}: its frames are mixed by 3D convolutions")
    if getattr(model, "attention", None) or getattr(model, "refine", None) is not None:
        raise ValueError("online recognition needs a network without attention blocks: W3's temporal attention "
                         "and the non-local block mix all frames of a clip")
    shifts = [m for m in model.modules() if isinstance(m, TemporalShift)]
    bidirectional = [m for m in shifts if m.mode != "online"]
    if bidirectional:
        raise ValueError(f"the model's temporal shift is {bidirectional[0].mode!r}: it reads the next frame, "
                         "which a stream does not have yet. Build (and train) it with shift_mode='online'")


class OnlineTSM(nn.Module):
    """An online-shift TSM network as a one-frame module with explicit state (TSM's exported demo):
    ``forward(frame, *buffers) -> (scores, *new_buffers)``.

    ``frame: (B, 3, H, W)``, normalised as the network was trained; ``scores: (B, K)``, the frame's
    logits; one buffer ``(B, C_l / d, H_l, W_l)`` per shifted layer, in module order (:attr:`num_buffers`).
    Called with no buffers (a stream's first frame) the shifts read zeros; :meth:`zero_buffers` gives
    them for a given frame size, as example inputs for ``torch.jit.trace`` or ``torch.onnx.export``.
    The module holds a copy of ``model`` whose online ``TemporalShift`` modules are
    :class:`BufferedShift` modules; ``model`` itself is not changed.
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        check_online(model)
        self.network = copy.deepcopy(model)
        self.shifts: list[BufferedShift] = []
        for name, module in list(self.network.named_modules()):
            if isinstance(module, TemporalShift):
                parent, _, attribute = name.rpartition(".")
                buffered = BufferedShift(module.fold_div)
                setattr(self.network.get_submodule(parent), attribute, buffered)
                self.shifts.append(buffered)
        self.network.num_frames = 1  # one frame per stream and call: the shape check of the clip model

    @property
    def num_buffers(self) -> int:
        return len(self.shifts)

    def forward(self, frame: Tensor, *buffers: Tensor) -> tuple[Tensor, ...]:
        if buffers and len(buffers) != len(self.shifts):
            raise ValueError(f"expected {len(self.shifts)} shift buffers (or none for a first frame), "
                             f"got {len(buffers)}")
        for index, shift in enumerate(self.shifts):
            shift.previous = buffers[index] if buffers else None
        scores = self.network.frame_logits(self.network.forward_features(frame.unsqueeze(2)))[:, 0]
        new_buffers = [shift.current for shift in self.shifts]
        for shift in self.shifts:
            shift.previous = shift.current = None
        return (scores, *new_buffers)

    @torch.no_grad()
    def zero_buffers(self, frame: Tensor) -> list[Tensor]:
        """The zero buffers (a stream's first state) for frames of ``frame``'s shape ``(B, 3, H, W)``."""
        return [torch.zeros_like(buffer) for buffer in self(frame)[1:]]


class FramePreprocess:
    """An RGB image ``uint8 (H, W, 3)`` (numpy or torch) as the network's input ``float32 (3, S, S)``:
    the short side resized to ``resize_short`` (default: ``input_size``), the centre ``S x S`` crop
    (``S = input_size``), ``(x / 255 - mean) / std``: the checkpoint's test preprocessing, one frame."""

    def __init__(self, mean: list[float], std: list[float], input_size: int, resize_short: int | None = None) -> None:
        self.steps = (Resize(resize_short or input_size), CenterCrop(input_size), Normalize(mean, std))

    @classmethod
    def from_cfg(cls, cfg: Mapping) -> FramePreprocess:
        """From a weights record's ``pretrained_cfg`` (``mean``, ``std``, ``input_size``, ``resize_short``)."""
        return cls(list(cfg["mean"]), list(cfg["std"]), int(cfg["input_size"]), cfg.get("resize_short"))

    def __call__(self, image: np.ndarray | Tensor) -> Tensor:
        clip = torch.as_tensor(np.ascontiguousarray(image))[None]
        if clip.dtype != torch.uint8 or clip.dim() != 4 or clip.shape[-1] != 3:
            raise ValueError(f"expected an RGB image uint8 (H, W, 3), got {tuple(image.shape)} {image.dtype}")
        for step in self.steps:
            clip, _ = step(clip, 0, None)
        return clip[:, 0]


class OnlineRecognizer:
    """Frame in, scores out: ``recognizer(frame)`` for each frame of a stream, ``reset()`` between streams.

    ``frame`` is a normalised ``(3, H, W)`` tensor (or ``(B, 3, H, W)``: B streams in step), or an
    RGB image ``uint8 (H, W, 3)`` (numpy or torch), which goes through the model's preprocessing
    (:class:`FramePreprocess` from ``model.pretrained_cfg``: the checkpoint's). Returns the mean
    logits of the last ``smooth`` frames, ``(K,)`` (``(B, K)``), on the CPU; ``smooth=1``: the
    frame's own, the offline model's per-frame logits (module docstring). ``device`` runs the network
    there (``"cuda"``); ``model`` is copied, not changed.
    """

    def __init__(self, model: nn.Module, smooth: int = 1, device: str | torch.device = "cpu") -> None:
        if smooth < 1:
            raise ValueError(f"smooth must be >= 1 frame, got {smooth}")
        self.device = torch.device(device)
        self.online = OnlineTSM(model).to(self.device).eval()
        cfg = getattr(model, "pretrained_cfg", None) or {}
        self.preprocess = FramePreprocess.from_cfg(cfg) if {"mean", "std", "input_size"} <= cfg.keys() else None
        self.class_names = list(cfg.get("class_names") or [])
        self.smooth = smooth
        self.reset()

    def reset(self) -> None:
        """Forget the stream: zero shift buffers, empty score history."""
        self.buffers: tuple[Tensor, ...] = ()
        self.history: deque[Tensor] = deque(maxlen=self.smooth)

    @torch.no_grad()
    def __call__(self, frame: np.ndarray | Tensor) -> Tensor:
        if isinstance(frame, np.ndarray) or frame.dtype == torch.uint8:
            if self.preprocess is None:
                raise ValueError("the model's pretrained_cfg has no mean/std/input_size to preprocess an image with; "
                                 "pass a normalised (3, H, W) tensor")
            frame = self.preprocess(frame)
        single = frame.dim() == 3
        scores, *buffers = self.online((frame[None] if single else frame).to(self.device), *self.buffers)
        self.buffers = tuple(buffers)
        self.history.append(scores.float().cpu())
        smoothed = torch.stack(tuple(self.history)).mean(0)
        return smoothed[0] if single else smoothed
