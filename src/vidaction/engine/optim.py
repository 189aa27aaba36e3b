"""Optimisers and per-iteration learning-rate schedules from their configs."""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
from torch import nn
from torch.optim.lr_scheduler import LambdaLR

from vidaction.config import OptimConfig, ScheduleConfig


def build_optimizer(parameters: nn.Module | Iterable[nn.Parameter], cfg: OptimConfig) -> torch.optim.Optimizer:
    """SGD / Adam / AdamW over a module's or a list's trainable parameters. Weight decay applies to
    conv and linear weights only: biases and normalisation parameters (1-D tensors) are excluded, as
    in TSN/TSM's parameter groups."""
    decay, no_decay = [], []
    for param in parameters.parameters() if isinstance(parameters, nn.Module) else parameters:
        if param.requires_grad:
            (no_decay if param.ndim <= 1 else decay).append(param)
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    if cfg.name == "sgd":
        return torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.nesterov)
    betas = (float(cfg.betas[0]), float(cfg.betas[1]))
    optimizer = torch.optim.Adam if cfg.name == "adam" else torch.optim.AdamW
    return optimizer(groups, lr=cfg.lr, betas=betas)


def lr_factor(step: int, cfg: ScheduleConfig, steps_per_epoch: int, base_lr: float) -> float:
    """Multiplier of the base learning rate at iteration ``step`` (0-based)."""
    warmup = cfg.warmup_epochs * steps_per_epoch
    if step < warmup:
        return cfg.warmup_start_factor + (1 - cfg.warmup_start_factor) * step / warmup
    epoch = step / steps_per_epoch
    if cfg.policy == "step":
        return cfg.gamma ** sum(epoch >= m for m in cfg.milestones)
    if cfg.policy == "constant":
        return 1.0
    total = cfg.epochs * steps_per_epoch
    progress = min((step - warmup) / max(total - warmup, 1), 1.0)
    floor = cfg.min_lr / base_lr
    return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))


def build_scheduler(optimizer: torch.optim.Optimizer, cfg: ScheduleConfig, steps_per_epoch: int) -> LambdaLR:
    """A scheduler stepped once per iteration: linear warm-up, then cosine / step / constant."""
    base_lr = optimizer.param_groups[0]["lr"]
    steps = max(steps_per_epoch, 1)
    return LambdaLR(optimizer, lambda step: lr_factor(step, cfg, steps, base_lr))
