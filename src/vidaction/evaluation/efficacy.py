"""HCML's efficacy score of a motion representation (Sec. 4.2, Table 1).

A lightweight classifier is trained on frozen features and scored as
``Score = Acc_train / (Acc_train - Acc_test)``: high when the features are discriminative (high
training accuracy) and generalise (small train-test gap). The paper does not describe the
classifier; here it is a linear softmax classifier on the globally average-pooled features,
trained full-batch with L-BFGS on standardised inputs (deterministic, no learning rate to tune).
A test accuracy at or above the training accuracy has no finite score and gives ``inf``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor


@dataclass
class EfficacyResult:
    """Top-1 accuracies (fractions) of the probe and the efficacy score."""

    train_accuracy: float
    test_accuracy: float
    score: float


def efficacy_score(train_accuracy: float, test_accuracy: float) -> float:
    """``Acc_train / (Acc_train - Acc_test)``; ``inf`` when the gap is zero or negative."""
    gap = train_accuracy - test_accuracy
    return train_accuracy / gap if gap > 0 else float("inf")


def pool_features(features: Tensor) -> Tensor:
    """``(V, C, ...)`` -> ``(V, C)`` by averaging every axis after the channels."""
    return features.flatten(2).mean(dim=2) if features.dim() > 2 else features


def linear_probe(train_x: Tensor, train_y: Tensor, test_x: Tensor, test_y: Tensor, num_classes: int,
                 weight_decay: float = 1e-4, iterations: int = 100) -> EfficacyResult:
    """Train a linear classifier on ``(V, C, ...)`` features and report the efficacy score."""
    train_x, test_x = pool_features(train_x).double(), pool_features(test_x).double()
    mean, std = train_x.mean(0), train_x.std(0).clamp(min=1e-6)
    train_x, test_x = (train_x - mean) / std, (test_x - mean) / std
    weight = torch.zeros(train_x.shape[1], num_classes, dtype=torch.float64, requires_grad=True)
    bias = torch.zeros(num_classes, dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.LBFGS([weight, bias], max_iter=iterations, line_search_fn="strong_wolfe")

    def closure() -> Tensor:
        optimizer.zero_grad()
        loss = F.cross_entropy(train_x @ weight + bias, train_y) + weight_decay * weight.square().sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    with torch.no_grad():
        train_acc = ((train_x @ weight + bias).argmax(1) == train_y).double().mean().item()
        test_acc = ((test_x @ weight + bias).argmax(1) == test_y).double().mean().item()
    return EfficacyResult(train_acc, test_acc, efficacy_score(train_acc, test_acc))
