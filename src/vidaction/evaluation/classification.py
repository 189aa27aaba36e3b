"""Classification metrics on video-level scores ``(V, K)`` and labels ``(V,)`` (or ``(V, H)`` for
several heads, see :mod:`vidaction.data.labels`); fractions in [0, 1]."""

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


def multihead_metrics(scores: torch.Tensor, labels: torch.Tensor, heads: list[tuple[str, int]],
                      ks: tuple[int, ...] = (1, 5), chunk: int = 256) -> dict[str, float]:
    """Per-head and joint top-k accuracy of concatenated head scores ``(V, sum K_h)``, labels ``(V, H)``.

    Each head ``h`` gives ``<h>_top<k>``; the joint class (EPIC-Kitchens' "action" = verb + noun)
    is scored by the product of the heads' softmax probabilities over all class combinations, as in
    the EPIC-Kitchens baselines, giving ``action_top<k>`` (``top<k>`` repeats it, so model selection
    follows the action accuracy). Combinations are scored ``chunk`` videos at a time.
    """
    sizes = [size for _, size in heads]
    metrics: dict[str, float] = {}
    per_head = scores.split(sizes, dim=1)
    for index, (name, size) in enumerate(heads):
        for k, value in zip(ks, topk_accuracy(per_head[index], labels[:, index], tuple(min(k, size) for k in ks))):
            metrics[f"{name}_top{k}"] = value
    if len(labels) == 0:
        joint = [float("nan")] * len(ks)
    else:
        total = int(np.prod(sizes))
        target = torch.zeros(len(labels), dtype=torch.long)
        for index, size in enumerate(sizes):
            target = target * size + labels[:, index]
        hits = torch.zeros(len(ks))
        probs = [p.softmax(dim=1) for p in per_head]
        for start in range(0, len(labels), chunk):
            joint_scores = probs[0][start:start + chunk]
            for p in probs[1:]:
                joint_scores = (joint_scores[:, :, None] * p[start:start + chunk, None, :]).flatten(1)
            top = joint_scores.topk(min(max(ks), total), dim=1).indices
            match = top == target[start:start + chunk, None]
            hits += torch.tensor([match[:, :k].any(dim=1).sum().item() for k in ks], dtype=torch.float)
        joint = (hits / len(labels)).tolist()
    for k, value in zip(ks, joint):
        metrics[f"action_top{k}"] = value
        metrics[f"top{k}"] = value
    return metrics
