"""GAF's alternating training (Fig. 2, Sec. IV-B) of a detector with generative attention, as one
objective owning two optimisers.

Each iteration (``gaf.alternate=iteration``; or whole epochs in turn with ``epoch``):

1. Step 1 updates the frame-level CVAE alone with its own optimiser (``gaf.cvae_optim``, by default
   the authors' Adam, lr 1e-3, betas (0.8, 0.999)): the detector runs ``phase="cvae"`` (backbone
   features without gradient, lambda from the frozen segment attention) and eq. 7's
   ``L_CVAE = reconstruction + kl_weight * KL`` is minimised.
2. Step 2 updates the segment-level GAF, the head and the trainable backbone with the run's
   optimiser, the CVAE frozen: ``phase="segment"`` gives the head's output on ``F'`` and on the
   non-action maps, and the loss is eq. 14's ``L_d`` (:func:`vidaction.losses.gaf.gaf_detection_loss`)
   plus ``w_e * L_R`` (eq. 15) with ``w_e = representation_weight * min(e + 1, E) / E`` over the
   ramp's ``E`` epochs (the authors' code, ``train.py``); ``L_R`` also trains the backbone's
   features unless ``gaf.representation_detach_features``; plus ``loss.contrastive_weight`` x AFSD's
   boundary contrastive term of the head's output on the augmented windows' enhanced features
   (the authors' ``train.py`` runs it on the foreground features of the ``ssl`` clips).

A non-finite term in either step stops the run before that step's update, naming the term
(``reconstruction``, ``kl``, ``representation``, ...). Windows whose lambda collapsed to all 0 or all
1 (the weighted means of eq. 11 then rest on their epsilon) are logged as a warning with the step.
Both optimisers, schedulers (stepped every iteration, so both follow the run's epochs) and AMP
scalers are checkpointed, so a resumed run continues exactly.
Without a CVAE (``gaf.reconstruction=false``) only step 2 runs.
Decisions: docs/papers/gaf.md#alternating-schedule.
"""

from __future__ import annotations

import warnings
from typing import Any

import torch
from torch import Tensor, nn

from vidaction.config import DetectionLossConfig, GAFConfig, OptimConfig, ScheduleConfig
from vidaction.engine.objectives.base import Objective
from vidaction.engine.objectives.detection import add_contrastive_term
from vidaction.engine.optim import build_optimizer, build_scheduler
from vidaction.engine.runtime import log_message
from vidaction.losses.cvae import cvae_loss, representation_loss
from vidaction.losses.gaf import gaf_detection_loss


class GAFObjective(Objective):
    """Step 1: the CVAE's eq. 7 with its own optimiser; step 2 (:meth:`loss`): eq. 14 on the window
    targets plus the ramped eq. 15 when the CVAE exists, with the run's optimiser."""

    find_unused_parameters = True

    def __init__(self, loss_cfg: DetectionLossConfig, gaf_cfg: GAFConfig, epochs: int) -> None:
        self.loss_cfg, self.gaf_cfg = loss_cfg, gaf_cfg
        self.ramp = gaf_cfg.representation_ramp_epochs or epochs
        self.epoch = 0
        self.last_collapsed = 0
        self.cvae_optimizer = self.cvae_scheduler = None

    def representation_weight(self) -> float:
        return self.gaf_cfg.representation_weight * min(self.epoch + 1, self.ramp) / self.ramp

    def loss(self, net: nn.Module, inputs, targets: list[tuple[Tensor, Tensor]]) -> tuple[Tensor, Any, dict[str, Tensor]]:
        step = net(inputs.x, inputs.mask, phase="segment", nonaction=self.gaf_cfg.nonaction)
        loss, g = self.loss_cfg, self.gaf_cfg
        total, terms = gaf_detection_loss(
            step.gaf, targets, step.action, step.nonaction, alpha=g.alpha, beta=g.beta,
            nonaction_clf_weight=g.nonaction_clf_weight, nonaction_reg_weight=g.nonaction_reg_weight,
            use_nonaction=g.nonaction, piou=loss.piou, loc_weight=loss.loc_weight, cls_weight=loss.cls_weight,
            boundary_weight=loss.boundary_weight, branch_boundary_weight=loss.branch_boundary_weight,
            focal_gamma=loss.focal_gamma, background_alpha=loss.background_alpha)
        if step.gaf.frame is not None:
            terms["representation"] = representation_loss(step.gaf.frame, g.representation_detach_features)
            total = total + self.representation_weight() * terms["representation"]
        total = add_contrastive_term(total, terms, net, inputs.contrast, loss.contrastive_weight)
        self.last_collapsed = step.gaf.num_collapsed
        return total, step.action, terms

    def build_optimizers(self, model: nn.Module, optim_cfg: OptimConfig, schedule_cfg: ScheduleConfig,
                         steps_per_epoch: int, runtime) -> None:
        """The run's optimiser over everything but the CVAE (step 2), ``gaf.cvae_optim`` over the CVAE (step 1)."""
        cvae_ids = {id(p) for p in model.attention.cvae_parameters()}
        self.cvae_params = [p for p in model.parameters() if id(p) in cvae_ids]
        self.detector_params = [p for p in model.parameters() if id(p) not in cvae_ids and p.requires_grad]
        self.optimizer = build_optimizer(self.detector_params, optim_cfg)
        self.scheduler = build_scheduler(self.optimizer, schedule_cfg, steps_per_epoch)
        self.scaler = torch.amp.GradScaler(runtime.device.type, enabled=runtime.use_amp)
        self.cvae_scaler = torch.amp.GradScaler(runtime.device.type, enabled=runtime.use_amp)
        self.grad_clip = optim_cfg.grad_clip
        if self.cvae_params:
            self.cvae_optimizer = build_optimizer(self.cvae_params, self.gaf_cfg.cvae_optim)
            self.cvae_scheduler = build_scheduler(self.cvae_optimizer, schedule_cfg, steps_per_epoch)

    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        if self.cvae_optimizer is not None:
            state.update(cvae_optimizer=self.cvae_optimizer.state_dict(),
                         cvae_scheduler=self.cvae_scheduler.state_dict(), cvae_scaler=self.cvae_scaler.state_dict())
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        if self.cvae_optimizer is not None:
            self.cvae_optimizer.load_state_dict(state["cvae_optimizer"])
            self.cvae_scheduler.load_state_dict(state["cvae_scheduler"])
            self.cvae_scaler.load_state_dict(state["cvae_scaler"])

    def phases(self, epoch: int) -> tuple[bool, bool]:
        """``(update the CVAE, update the detector)`` in ``epoch`` (0-based)."""
        if self.cvae_optimizer is None:
            return False, True
        if self.gaf_cfg.alternate == "epoch":
            return epoch % 2 == 0, epoch % 2 == 1
        return True, True

    def train_step(self, runner, net: nn.Module, inputs, targets, epoch: int) -> tuple[Tensor, Any, dict[str, Tensor]]:
        update_cvae, update_detector = self.phases(epoch)
        terms: dict[str, Tensor] = {}
        loss, output = None, None
        if update_cvae:
            def cvae_step():
                frame = net(inputs.x, inputs.mask, phase="cvae").frame
                total, cvae_terms = cvae_loss(frame, beta=self.gaf_cfg.kl_weight)
                return total, None, cvae_terms

            loss, _, terms = runner.forward(cvae_step)
            runner.update(loss, self.cvae_optimizer, self.cvae_scaler, self.gaf_cfg.cvae_optim.grad_clip,
                          self.cvae_params)
        if update_detector:
            self.epoch = epoch
            loss, output, detector_terms = runner.forward(lambda: self.loss(net, inputs, targets))
            runner.update(loss, self.optimizer, self.scaler, self.grad_clip, self.detector_params)
            terms.update(detector_terms)
            if self.last_collapsed:
                log_message(f"vidaction: warning: GAF attention collapsed (lambda all 0 or all 1) in "
                            f"{self.last_collapsed} window map(s) at epoch {epoch + 1}, step "
                            f"{runner.step + 1}: eq. 11's weighted means rest on their epsilon")
        # Both schedules follow the run's iterations, whichever step ran (with per-epoch alternation
        # a schedule also advances in the other step's epochs, which PyTorch would warn about).
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Detected call of `lr_scheduler")
            self.scheduler.step()
            if self.cvae_scheduler is not None:
                self.cvae_scheduler.step()
        return loss, output, terms
