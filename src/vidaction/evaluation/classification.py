"""Classification metrics on video-level scores ``(V, K)`` and labels ``(V,)``; fractions in [0, 1]."""

from __future__ import annotations

import numpy as np
import torch


def topk_accuracy(scores: torch.Tensor, labels: torch.Tensor, ks: tuple[int, ...] = (1, 5)) -> list[float]:
    """Fraction of videos whose label is among the ``k`` highest scores, for each ``k``."""
    if len(labels) == 0:
        return [float("nan")] * len(ks)
    top = scores.topk(max(ks), dim=1).indices
    hits = top == labels[:, None]
    return [hits[:, :k].any(dim=1).float().mean().item() for k in ks]


def confusion_matrix(predictions: torch.Tensor, labels: torch.Tensor, num_classes: int) -> np.ndarray:
    """``(K, K)`` counts, rows = true class, columns = predicted class."""
    flat = labels.long() * num_classes + predictions.long()
    return torch.bincount(flat, minlength=num_classes * num_classes).view(num_classes, num_classes).numpy()


def mean_class_accuracy(scores: torch.Tensor, labels: torch.Tensor, num_classes: int) -> float:
    """Mean over the classes present in ``labels`` of their recall (UCF101/HMDB convention)."""
    cm = confusion_matrix(scores.argmax(1), labels, num_classes)
    support = cm.sum(axis=1)
    present = support > 0
    if not present.any():
        return float("nan")
    return float((np.diag(cm)[present] / support[present]).mean())
