"""Batch adapters: a loader's collated batch -> ``(inputs, targets, count)`` on the device.

- :class:`ClipBatches`: :func:`~vidaction.data.dataset.collate_clips` batches; inputs ``(N, 3, T, H,
  W)`` clips, targets ``(N,)`` labels (``(N, H)`` for several heads); a training batch's right
  predictions are counted when the objective's outputs are class scores (``reports_accuracy``).
- :class:`WindowBatches`: :func:`~vidaction.data.detection_dataset.collate_detection` batches;
  inputs :class:`DetectionInputs`, targets ``[(segments (K, 2), labels (K,))]`` per window.

``unpack`` returns ``None`` for a batch with nothing readable (its items are counted as bad).
"""

from __future__ import annotations

from typing import Any, NamedTuple

from torch import Tensor

from vidaction.engine.objectives.recognition import correct_predictions
from vidaction.engine.runtime import Runtime


class DetectionInputs(NamedTuple):
    """A training batch's windows ``x`` ``(B, C, T, ...)`` and ``mask`` ``(B, T)``; ``contrast``: the
    augmented copies of those that have one, ``(input (B', C, T, ...), mask (B', T), proposals
    (B', 3, 2))``, or ``None``."""

    x: Tensor
    mask: Tensor
    contrast: tuple[Tensor, Tensor, Tensor] | None = None


class ClipBatches:
    """Clips and labels; ``head_sizes`` split the scores of several heads."""

    def __init__(self, head_sizes: tuple[int, ...] = (), reports_accuracy: bool = True) -> None:
        self.head_sizes = head_sizes
        self.reports_accuracy = reports_accuracy

    def unpack(self, batch: dict[str, Any], runtime: Runtime) -> tuple[Tensor, Tensor, int] | None:
        if batch["clip"] is None:
            return None
        return runtime.clip_to_device(batch["clip"]), batch["label"].to(runtime.device), len(batch["label"])

    def correct(self, outputs: Tensor, targets: Tensor) -> int | None:
        """Right arg-max predictions of a training batch; ``None`` without :attr:`reports_accuracy`."""
        if not self.reports_accuracy:
            return None
        return int(correct_predictions(outputs, targets, self.head_sizes).sum().item())


class WindowBatches:
    """Detection windows, their masks, their targets and their augmented copies."""

    reports_accuracy = False

    def unpack(self, batch: dict[str, Any], runtime: Runtime) -> tuple[DetectionInputs, list, int] | None:
        if batch["input"] is None:
            return None
        device = runtime.device
        contrast = batch.get("contrast")
        inputs = DetectionInputs(batch["input"].to(device, non_blocking=True),
                                 batch["mask"].to(device, non_blocking=True),
                                 None if contrast is None else tuple(t.to(device, non_blocking=True) for t in contrast))
        targets = [(s.to(device), l.to(device)) for s, l in zip(batch["segments"], batch["labels"])]
        return inputs, targets, len(targets)

    def correct(self, outputs: Any, targets: Any) -> None:
        return None
