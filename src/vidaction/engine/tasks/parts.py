"""What a training run is made of, whatever the task (see :mod:`vidaction.engine.loop`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from torch import nn


@dataclass
class RunParts:
    """A model with its objective, evaluator and batch adapter, the two loaders, the class names,
    the share of unreadable items an epoch tolerates and, optionally, the only modules to train."""

    model: nn.Module
    objective: Any
    evaluator: Any
    adapter: Any
    train_loader: Any
    val_loader: Any
    class_names: list[str]
    max_bad_fraction: float = 0.05
    trainable: list[nn.Module] | None = None
