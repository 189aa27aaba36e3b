"""The sections every task shares (optimiser, schedule, run) and the checks every section uses."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


class ConfigError(ValueError):
    """A configuration key or value is invalid; the message names the key."""


# Field metadata of a section whose keys may also be written one level up, as in the configs saved
# before that section existed (the recipe's per-method sections); the loader moves them into it.
FLAT_KEYS = {"flat_keys": True}


def one_of(key: str, value: Any, allowed: tuple) -> None:
    if value not in allowed:
        raise ConfigError(f"{key} must be one of {list(allowed)}, got {value!r}")


def positive(key: str, value: int) -> None:
    if value <= 0:
        raise ConfigError(f"{key} must be > 0, got {value}")


@dataclass
class OptimConfig:
    """Optimiser, regularisation and loss options."""

    name: str = "sgd"
    lr: float = 0.01
    momentum: float = 0.9
    nesterov: bool = False
    betas: list = field(default_factory=lambda: [0.9, 0.999])
    weight_decay: float = 5e-4
    grad_clip: float = 20.0
    label_smoothing: float = 0.0
    partial_bn: bool = False

    def __post_init__(self) -> None:
        one_of("optim.name", self.name, ("sgd", "adam", "adamw"))
        if self.lr <= 0:
            raise ConfigError(f"optim.lr must be > 0, got {self.lr}")
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ConfigError(f"optim.label_smoothing must lie in [0, 1), got {self.label_smoothing}")


@dataclass
class ScheduleConfig:
    """Epochs and the learning-rate schedule (cosine with linear warm-up, or step)."""

    epochs: int = 50
    warmup_epochs: float = 0.0
    warmup_start_factor: float = 0.1
    policy: str = "cosine"
    min_lr: float = 0.0
    milestones: list = field(default_factory=list)
    gamma: float = 0.1

    def __post_init__(self) -> None:
        one_of("schedule.policy", self.policy, ("cosine", "step", "constant"))
        positive("schedule.epochs", self.epochs)
        if self.warmup_epochs < 0 or self.warmup_epochs > self.epochs:
            raise ConfigError(
                f"schedule.warmup_epochs must lie in [0, epochs={self.epochs}], got {self.warmup_epochs}"
            )


@dataclass
class TrainConfig:
    """How a run executes: output folder, seed, device, precision, logging, resuming.

    ``seed`` seeds the whole run: model initialisation, the data order and every augmentation (item
    ``i`` of epoch ``e`` draws from ``(seed, e, i)``), dropout and the models' sampling.
    ``checkpoint_every_steps``: also write ``last.pt`` every that many optimiser steps inside an
    epoch (0: at epoch ends only); resuming from it continues at the exact next batch.
    ``auto_resume``: a run whose ``out_dir`` holds a ``last.pt`` continues from it (``None``, the
    default: on under torchrun, where a restarted group must pick up its work, off otherwise).
    """

    out_dir: str = "runs/exp"
    seed: int = 0
    device: str = "auto"
    amp: bool = True
    channels_last: bool = True
    compile: bool = False
    eval_every: int = 1
    log_every: int = 10
    progress: bool = True
    tensorboard: bool = True
    resume: str = ""
    checkpoint: str = ""
    deterministic: bool = False
    sync_bn: bool = False
    checkpoint_every_steps: int = 0
    auto_resume: bool | None = None

    def __post_init__(self) -> None:
        positive("train.eval_every", self.eval_every)
        positive("train.log_every", self.log_every)
        if self.checkpoint_every_steps < 0:
            raise ConfigError(f"train.checkpoint_every_steps must be >= 0, got {self.checkpoint_every_steps}")
        if not (self.auto_resume is None or isinstance(self.auto_resume, bool)):
            raise ConfigError(f"train.auto_resume must be true, false or null (on under torchrun), got "
                              f"{self.auto_resume!r}")
