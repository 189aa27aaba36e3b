"""GAF's alternating training (Fig. 2, Sec. IV-B) of a detector with generative attention.

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
"""

from __future__ import annotations

import warnings
from typing import Any

import torch
from torch import Tensor, nn

from vidaction.config import DetectionLossConfig, GAFConfig
from vidaction.engine.checkpoint import load_checkpoint
from vidaction.engine.detection import DetectionInputs, DetectionTrainer, add_contrastive_term
from vidaction.engine.optim import build_optimizer, build_scheduler
from vidaction.engine.trainer import log_message
from vidaction.losses.cvae import cvae_loss, representation_loss
from vidaction.losses.gaf import gaf_detection_loss


class GAFObjective:
    """Step 2's loss: eq. 14 on the window targets, plus the ramped eq. 15 when the CVAE exists."""

    def __init__(self, loss_cfg: DetectionLossConfig, gaf_cfg: GAFConfig, epochs: int) -> None:
        self.loss_cfg, self.gaf_cfg = loss_cfg, gaf_cfg
        self.ramp = gaf_cfg.representation_ramp_epochs or epochs
        self.epoch = 0
        self.last_collapsed = 0

    def to(self, device: torch.device) -> "GAFObjective":
        return self

    def representation_weight(self) -> float:
        return self.gaf_cfg.representation_weight * min(self.epoch + 1, self.ramp) / self.ramp

    def __call__(self, net: nn.Module, inputs: DetectionInputs,
                 targets: list[tuple[Tensor, Tensor]]) -> tuple[Tensor, Any, dict[str, Tensor]]:
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


class GAFDetectionTrainer(DetectionTrainer):
    """:class:`DetectionTrainer` with GAF's two alternating steps and a second optimiser for the CVAE."""

    find_unused_parameters = True

    def __init__(self, *args, gaf_cfg: GAFConfig, **kwargs) -> None:
        self.gaf_cfg = gaf_cfg
        self.cvae_optimizer = self.cvae_scheduler = None
        super().__init__(*args, **kwargs)

    def build_optimizers(self) -> None:
        """The run's optimiser over everything but the CVAE (step 2), ``gaf.cvae_optim`` over the CVAE (step 1)."""
        cvae_ids = {id(p) for p in self.model.attention.cvae_parameters()}
        self.cvae_params = [p for p in self.model.parameters() if id(p) in cvae_ids]
        self.detector_params = [p for p in self.model.parameters() if id(p) not in cvae_ids and p.requires_grad]
        self.optimizer = build_optimizer(self.detector_params, self.optim_cfg)
        self.scheduler = build_scheduler(self.optimizer, self.schedule_cfg, len(self.train_loader))
        self.cvae_scaler = torch.amp.GradScaler(self.device.type, enabled=self.use_amp)
        if self.cvae_params:
            self.cvae_optimizer = build_optimizer(self.cvae_params, self.gaf_cfg.cvae_optim)
            self.cvae_scheduler = build_scheduler(self.cvae_optimizer, self.schedule_cfg, len(self.train_loader))

    def _state(self) -> dict[str, Any]:
        state = super()._state()
        if self.cvae_optimizer is not None:
            state.update(cvae_optimizer=self.cvae_optimizer.state_dict(),
                         cvae_scheduler=self.cvae_scheduler.state_dict(), cvae_scaler=self.cvae_scaler.state_dict())
        return state

    def _resume(self, path: str) -> None:
        super()._resume(path)
        if self.cvae_optimizer is not None:
            state = load_checkpoint(path)
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

    def train_step(self, inputs: Any, targets: Any, epoch: int) -> tuple[Tensor, Any, dict[str, Tensor]]:
        update_cvae, update_detector = self.phases(epoch)
        terms: dict[str, Tensor] = {}
        loss, output = None, None
        if update_cvae:
            buffers = [b.detach().clone() for b in self.model.buffers()]
            with torch.autocast(self.device.type, enabled=self.use_amp):
                gaf = self.net(inputs.x, inputs.mask, phase="cvae")
                loss, terms = cvae_loss(gaf.frame, beta=self.gaf_cfg.kl_weight)
            self.check_finite(loss, terms, buffers, epoch)
            self.optimizer_step(loss, self.cvae_optimizer, self.cvae_params, self.cvae_scaler,
                                self.gaf_cfg.cvae_optim.grad_clip)
        if update_detector:
            buffers = [b.detach().clone() for b in self.model.buffers()]
            self.objective.epoch = epoch
            with torch.autocast(self.device.type, enabled=self.use_amp):
                loss, output, detector_terms = self.objective(self.net, inputs, targets)
            self.check_finite(loss, detector_terms, buffers, epoch)
            self.optimizer_step(loss, self.optimizer, self.detector_params)
            terms.update(detector_terms)
            if self.objective.last_collapsed:
                log_message(f"vidaction: warning: GAF attention collapsed (lambda all 0 or all 1) in "
                            f"{self.objective.last_collapsed} window map(s) at epoch {epoch + 1}, step "
                            f"{self.global_step + 1}: eq. 11's weighted means rest on their epsilon")
        # Both schedules follow the run's iterations, whichever step ran (with per-epoch alternation
        # a schedule also advances in the other step's epochs, which PyTorch would warn about).
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Detected call of `lr_scheduler")
            self.scheduler.step()
            if self.cvae_scheduler is not None:
                self.cvae_scheduler.step()
        return loss, output, terms
