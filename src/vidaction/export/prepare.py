"""Export-ready graphs of vidaction models: what :mod:`vidaction.export.writers` traces.

:func:`export_graph` deep-copies a model (the caller's is left as it is), puts it in eval mode,
drops the training-only branches (HCML's side branches by ``deploy()``, GAF's CVAE) and swaps in
export-friendly modules with the same numbers:

- every TSM ``TemporalShift`` becomes a :class:`~vidaction.export.layers.ConcatTemporalShift` of
  the same mode;
- Inception-I3D's logits pool kernel is made of Python ints (:class:`StaticPoolInceptionI3d`: the
  TorchScript-based ONNX exporter takes only constant pool kernels), and W3's refinement pools its
  masks by constant matrices (:class:`StaticSizeRefinement`);
- GAF's recognition wrapper returns its scores alone (:class:`ScoresOnlyGAFClassifier`:
  ``torch.export`` cannot prove that ``chunk(2)`` of ``2N`` rows gives two chunks for every ``N``).

The copy is wrapped with tensor inputs and outputs: :class:`ClipClassifier` ``clip (N, C, T, H, W)
-> scores (N, K)`` for recognition, :class:`WindowDetector` ``(inputs, mask (N, T)) -> (segments
(N, L, 2), scores (N, L, K))`` for a detector, the first step of AFSD's decoding in the graph.
:func:`traceable` swaps the functions of :mod:`vidaction.export.layers` in for their namesakes
while a graph is traced (process-wide, restored on exit); the traced graph keeps them.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vidaction.evaluation.postprocess import decode_windows
from vidaction.export import layers
from vidaction.models.attention import w3
from vidaction.models.attention.refinement import AttentionRefinement
from vidaction.models.backbones.i3d import LOGITS_POOL, InceptionI3d
from vidaction.models.detector import TemporalDetector
from vidaction.models.generative.gaf import GenerativeAttention
from vidaction.models.generative.gaf_classifier import GAFClassifier
from vidaction.models.generative.segment_attention import attention_weights
from vidaction.models.heads import afsd, afsd_refinement
from vidaction.models.layers.temporal_shift import TemporalShift
from vidaction.models.motion.hcml import HCMLNet

# (module, function name, export-friendly equivalent) swapped in by ``traceable``.
FUNCTION_SWAPS = (
    (w3, "conv3d_by_frames", layers.conv3d_by_frames),
    (afsd, "start_end_max_pool", layers.start_end_max_pool),
    (afsd_refinement, "start_end_max_pool", layers.start_end_max_pool),
    (afsd, "_check_mask", layers.check_mask),
)


class StaticPoolInceptionI3d(InceptionI3d):
    """:class:`InceptionI3d` whose ``frame_logits`` pool kernel is made of Python ints: the same
    ``[2, 7, 7]`` average pool clipped to Mixed_5c's ``(T', H', W')``, fixed when traced."""

    def frame_logits(self, features: dict[str, Tensor]) -> Tensor:
        x = features["Mixed_5c"]
        kernel = tuple(min(k, int(n)) for k, n in zip(LOGITS_POOL, x.shape[2:]))
        return self.logits(self.dropout(F.avg_pool3d(x, kernel, stride=1))).mean(dim=(3, 4)).transpose(1, 2)


class StaticSizeRefinement(AttentionRefinement):
    """:class:`AttentionRefinement` pooling the masks by :func:`~vidaction.export.layers.adaptive_avg_pool`
    to a size of Python ints, fixed when traced."""

    def forward(self, masks: Sequence[Tensor], size: Sequence[int]) -> Tensor:
        pooled = torch.cat([layers.adaptive_avg_pool(m, [int(side) for side in size]) for m in masks], dim=1)
        conv = F.conv2d if self.dims == 2 else F.conv3d
        return self.scale.view(-1, *(1,) * self.dims) * F.relu(conv(pooled, self.weight, self.bias))


class ScoresOnlyGAFClassifier(GAFClassifier):
    """:class:`GAFClassifier` computing its scores alone, ``(N, 3, T, H, W) -> (N, K)``: ``f_ai``
    (eq. 11) through the classifier without the background column; ``f_n-ai``, the collapse flags
    and ``last_output`` serve training and pictures."""

    def forward(self, x: Tensor) -> Tensor:
        pooled, mask = self._pooled(self.forward_features(x))
        action = torch.einsum("bct,bt->bc", pooled,
                              attention_weights(self.attention_head(pooled, mask), mask, self.eps))
        if self.classifier is not None:
            return self.classifier(action)[:, 1:]
        return self.trunk.forward_head({self.feature_name: action[:, :, None, None, None]})[:, 1:]


class ClipClassifier(nn.Module):
    """A recognition model as a graph: ``clip (N, C, T, H, W) -> scores (N, K)`` (raw logits)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, clip: Tensor) -> Tensor:
        return self.model(clip)


class WindowDetector(nn.Module):
    """A detector as a graph: ``inputs`` (features ``(N, C, T[, H, W])`` or frames ``(N, C, T, H, W)``)
    and ``mask (N, T)`` (a non-empty valid prefix per window) -> ``segments (N, L, 2)`` in window
    steps and ``scores (N, L, K)``: :func:`~vidaction.evaluation.postprocess.decode_windows` of the
    head's output, step 1 of AFSD's test. Thresholds, seconds and soft-NMS stay in Python."""

    def __init__(self, detector: TemporalDetector) -> None:
        super().__init__()
        self.detector = detector

    def forward(self, inputs: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        return decode_windows(self.detector(inputs, mask))


def export_graph(model: nn.Module) -> ClipClassifier | WindowDetector:
    """The export-ready graph of a recognition model or a :class:`TemporalDetector` (module docstring)."""
    model = copy.deepcopy(model).eval()
    if isinstance(model, HCMLNet):
        model = model.deploy()
    for name, module in list(model.named_modules()):
        if isinstance(module, TemporalShift):
            model.set_submodule(name, layers.ConcatTemporalShift.like(module))
        elif isinstance(module, GenerativeAttention):
            module.deploy()
        elif type(module) is InceptionI3d:
            module.__class__ = StaticPoolInceptionI3d
        elif type(module) is AttentionRefinement:
            module.__class__ = StaticSizeRefinement
        elif type(module) is GAFClassifier:
            module.__class__ = ScoresOnlyGAFClassifier
    return (WindowDetector(model) if isinstance(model, TemporalDetector) else ClipClassifier(model)).eval()


@contextmanager
def traceable() -> Iterator[None]:
    """Within the block, vidaction's models call the export-friendly functions of
    :mod:`vidaction.export.layers` (``FUNCTION_SWAPS``); the originals are restored on exit."""
    originals = [getattr(module, name) for module, name, _ in FUNCTION_SWAPS]
    try:
        for module, name, replacement in FUNCTION_SWAPS:
            setattr(module, name, replacement)
        yield
    finally:
        for (module, name, _), original in zip(FUNCTION_SWAPS, originals):
            setattr(module, name, original)
