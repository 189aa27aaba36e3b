"""What an objective is: the loss of a batch and the optimisers that minimise it.

An objective's :meth:`Objective.loss` ``(net, inputs, targets) -> (loss, outputs, terms)`` gives
the total loss, the network's outputs and each named (unweighted) term, which the loop logs and a
NaN message names; evaluation of a self-supervised run averages it. :meth:`Objective.train_step`
makes one optimisation step of a batch through the loop's
:class:`~vidaction.engine.loop.StepRunner`. The base class owns one optimiser over the model's
trainable parameters, its per-iteration schedule and its AMP scaler; objectives with several
(GAF's alternating CVAE and detector steps) override :meth:`build_optimizers`, :meth:`train_step`
and the state. :meth:`state_dict` entries are top-level checkpoint keys (``optimizer``,
``scheduler``, ``scaler``, ...).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import torch
from torch import Tensor, nn

from vidaction.config import OptimConfig, ScheduleConfig
from vidaction.engine.optim import build_optimizer, build_scheduler


class Objective(ABC):
    """One optimiser over every trainable parameter, stepped on :meth:`loss`; subclasses define the loss."""

    # Objectives that leave some parameters unused in a step (GAF's alternating steps) set this.
    find_unused_parameters = False

    def to(self, device: torch.device) -> "Objective":
        """Move what the objective holds (a teacher) to ``device``."""
        return self

    @abstractmethod
    def loss(self, net: nn.Module, inputs: Any, targets: Any) -> tuple[Tensor, Any, dict[str, Tensor]]:
        """``(total loss, the network's outputs, each named unweighted term)`` of one batch."""

    def build_optimizers(self, model: nn.Module, optim_cfg: OptimConfig, schedule_cfg: ScheduleConfig,
                         steps_per_epoch: int, runtime) -> None:
        self.optimizer = build_optimizer(model.parameters(), optim_cfg)
        self.scheduler = build_scheduler(self.optimizer, schedule_cfg, steps_per_epoch)
        self.scaler = torch.amp.GradScaler(runtime.device.type, enabled=runtime.use_amp)
        self.grad_clip = optim_cfg.grad_clip

    @property
    def lr(self) -> float:
        return self.optimizer.param_groups[0]["lr"]

    def train_step(self, runner, net: nn.Module, inputs: Any, targets: Any,
                   epoch: int) -> tuple[Tensor, Any, dict[str, Tensor]]:
        loss, outputs, terms = runner.forward(lambda: self.loss(net, inputs, targets))
        runner.update(loss, self.optimizer, self.scaler, self.grad_clip)
        self.scheduler.step()
        return loss, outputs, terms

    def state_dict(self) -> dict[str, Any]:
        return {"optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict(),
                "scaler": self.scaler.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.scaler.load_state_dict(state["scaler"])
