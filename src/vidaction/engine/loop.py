"""The one training loop, built from parts.

A run is a model and four parts, whatever the task:

- a batch adapter (:mod:`vidaction.engine.batches`): a loader's batch -> ``(inputs, targets, count)``
  on the device, and the right predictions of a training batch (or none);
- an objective (:mod:`vidaction.engine.objectives`): owns the optimisers, schedulers and AMP
  scalers and makes one training step of a batch through a :class:`StepRunner` (GAF's two
  alternating optimisers and MFR's frozen teacher are objectives, not loop subclasses);
- an evaluator (:mod:`vidaction.engine.evaluators`): validation metrics, the key that picks
  ``best.pt`` and the pictures of its metric;
- reporters (:mod:`vidaction.engine.reporters`): console, JSON lines, TensorBoard, pictures.

Each epoch: optional partial BN, every batch through the objective, the per-iteration schedule. A
non-finite loss stops the run *before* the optimiser step, naming the epoch, step and terms; the
BatchNorm statistics that forward pass touched are restored, so no weight or buffer is corrupted.
Unreadable items are skipped, counted and listed at the epoch end; more than ``max_bad_fraction``
of an epoch stops the run with :class:`TooManyBadSamples`. ``trainable`` restricts training to some
modules: every other parameter is frozen and every other module stays in eval mode, so frozen
BatchNorm statistics do not drift (HCML's progressive stages).

Checkpoints (``last.pt`` each epoch and, with ``train.checkpoint_every_steps``, every that many
steps inside one; ``best.pt`` on a new best of the evaluator's key) are written atomically and hold
the model, the objective's optimiser state, epoch, step, history, every RNG state and, inside an
epoch, its progress (batches done, running sums, unreadable items), so ``train.resume`` continues
exactly: at the next epoch, or at the exact next batch. Every random choice of the data comes from
``(seed, epoch, index)`` and the loaders draw their worker seeds from their own generators, so
resumed and uninterrupted runs agree whatever the number of workers. An exception or Ctrl-C inside
an epoch writes ``interrupted.pt`` (the weights at that moment, ``interrupted: True``, the epoch
counter at the last completed epoch, so resuming from it repeats the interrupted epoch) before
re-raising.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn
from tqdm import tqdm

from vidaction.config import OptimConfig, ScheduleConfig, TrainConfig
from vidaction.engine import distributed
from vidaction.engine.checkpoint import load_checkpoint, save_checkpoint
from vidaction.engine.partial_bn import freeze_partial_bn
from vidaction.engine.reporters import default_reporters
from vidaction.engine.runtime import Runtime, log_message, rng_state, seed_everything, set_rng_state
from vidaction.io import FileWriteError

MAX_LISTED_BAD = 10


class TooManyBadSamples(RuntimeError):
    """More undecodable videos in an epoch than ``max_bad_fraction`` allows."""


class NonFiniteLossError(FloatingPointError):
    """The loss became NaN or infinite; the weights were not updated with it."""


class StepRunner:
    """What an objective's training step uses: a guarded forward and an optimiser update.

    ``epoch`` and ``step`` (0-based) are set by the loop before each step, for messages.
    """

    def __init__(self, model: nn.Module, runtime: Runtime) -> None:
        self.model, self.runtime = model, runtime
        self.epoch = self.step = 0

    def forward(self, compute: Callable[[], tuple[torch.Tensor, Any, dict[str, torch.Tensor]]]
                ) -> tuple[torch.Tensor, Any, dict[str, torch.Tensor]]:
        """``compute()`` under autocast; a non-finite loss restores the buffers (BatchNorm
        statistics) the forward touched and raises :class:`NonFiniteLossError` naming the terms."""
        buffers = [b.detach().clone() for b in self.model.buffers()]
        with self.runtime.autocast():
            loss, outputs, terms = compute()
        if not torch.isfinite(loss):
            with torch.no_grad():
                for buffer, saved in zip(self.model.buffers(), buffers):
                    buffer.copy_(saved)
            bad_terms = ", ".join(f"{k}={v.item()}" for k, v in terms.items() if not torch.isfinite(v)) or "total"
            raise NonFiniteLossError(f"loss is {loss.item()} ({bad_terms}) at epoch {self.epoch + 1}, step "
                                     f"{self.step + 1}: stopped before updating the weights")
        return loss, outputs, terms

    def update(self, loss: torch.Tensor, optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler,
               grad_clip: float, parameters: Sequence[nn.Parameter] | None = None) -> None:
        """Backward (AMP-scaled), clipping of ``parameters`` (default: all) at ``grad_clip`` when
        positive, one ``optimizer`` step."""
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        if grad_clip > 0:
            scaler.unscale_(optimizer)
            nn.utils.clip_grad_norm_(parameters if parameters is not None else self.model.parameters(), grad_clip)
        scaler.step(optimizer)
        scaler.update()


class TrainingLoop:
    """Fit ``model`` with ``objective`` on ``train_loader``, scored by ``evaluator`` on ``val_loader``.

    With ``train_loader=None`` the loop only evaluates (no optimiser, no run-folder writes).
    """

    def __init__(self, model: nn.Module, objective, evaluator, adapter, train_cfg: TrainConfig,
                 optim_cfg: OptimConfig, schedule_cfg: ScheduleConfig, train_loader, val_loader,
                 max_bad_fraction: float = 0.05, extra_state: dict[str, Any] | None = None,
                 trainable: Sequence[nn.Module] | None = None, reporters: list | None = None) -> None:
        self.cfg, self.optim_cfg, self.epochs = train_cfg, optim_cfg, schedule_cfg.epochs
        self.objective, self.evaluator, self.adapter = objective, evaluator, adapter
        self.train_loader, self.val_loader = train_loader, val_loader
        self.max_bad_fraction = max_bad_fraction
        self.extra_state = extra_state or {}
        self.out_dir = Path(train_cfg.out_dir)
        seed_everything(train_cfg.seed + distributed.rank())
        if train_cfg.deterministic:
            torch.use_deterministic_algorithms(True, warn_only=True)
        self.runtime = Runtime.from_config(train_cfg)
        self.objective.to(self.runtime.device)
        self.trainable = list(trainable) if trainable is not None else None
        if self.trainable is not None:
            model.requires_grad_(False)
            for module in self.trainable:
                module.requires_grad_(True)
        self.model, self.net, self.trainable = self.runtime.prepare(
            model, self.trainable, train_cfg.sync_bn, train_cfg.compile, objective.find_unused_parameters)
        self.runner = StepRunner(self.model, self.runtime)
        self.training = train_loader is not None
        if self.training:
            objective.build_optimizers(self.model, optim_cfg, schedule_cfg, len(train_loader), self.runtime)
        self.epoch = 0
        self.global_step = 0
        self.best_score = -float("inf")
        self.history: list[dict[str, Any]] = []
        self.epoch_progress: dict[str, Any] | None = None
        self.reporters = reporters if reporters is not None else default_reporters(
            self.out_dir, train_cfg, enabled=self.runtime.main and self.training)
        if train_cfg.resume:
            self._resume(train_cfg.resume)

    def _state(self) -> dict[str, Any]:
        return {
            "format": "vidaction",
            "model": self.model.state_dict(),
            **self.objective.state_dict(),
            "epoch": self.epoch,
            "global_step": self.global_step,
            "best_score": self.best_score,
            "history": self.history,
            "rng": rng_state(),
            "pretrained_cfg": getattr(self.model, "pretrained_cfg", {}),
            **({"arch": self.model.arch} if hasattr(self.model, "arch") else {}),
            **self.extra_state,
        }

    def _save(self, name: str, every_rank: bool = True, **extra: Any) -> None:
        """Write checkpoint ``name`` on rank 0. With ``every_rank`` (every process calls it at the same
        point) it also holds each process's RNG states: each rank draws its own dropout masks."""
        ranks = distributed.all_gather_objects(rng_state()) if every_rank else None
        if self.runtime.main:
            save_checkpoint(self.out_dir / name, {**self._state(), **extra,
                                                  **({"rng_per_rank": ranks} if ranks is not None else {})})

    def _resume(self, path: str) -> None:
        state = load_checkpoint(path)
        self.model.load_state_dict(state["model"])
        self.objective.load_state_dict(state)
        self.epoch, self.global_step = state["epoch"], state["global_step"]
        self.best_score, self.history = state["best_score"], state["history"]
        self.epoch_progress = state.get("epoch_progress")
        per_rank = state.get("rng_per_rank")
        same_group = per_rank is not None and len(per_rank) == distributed.world_size()
        set_rng_state(per_rank[distributed.rank()] if same_group else state["rng"])
        where = f", batch {self.epoch_progress['batches']}" if self.epoch_progress else ""
        log_message(f"resumed from {path} at epoch {self.epoch}{where}")

    def _train_mode(self) -> None:
        self.net.train()
        if self.trainable is not None:
            self.model.eval()
            for module in self.trainable:
                module.train()

    def train_one_epoch(self, epoch: int) -> dict[str, Any]:
        self._train_mode()
        if self.optim_cfg.partial_bn:
            freeze_partial_bn(self.model)
        for holder in (self.train_loader.sampler, self.train_loader.dataset):
            if hasattr(holder, "set_epoch"):
                holder.set_epoch(epoch)
        totals = torch.zeros(4, dtype=torch.float64)
        bad: list[str] = []
        done = 0
        if self.epoch_progress is not None:
            done, bad = self.epoch_progress["batches"], list(self.epoch_progress["bad"])
            totals = torch.tensor(self.epoch_progress["totals"], dtype=torch.float64)
            self.train_loader.sampler.skip_next(done * self.train_loader.batch_size)
            self.epoch_progress = None
        bar = tqdm(self.train_loader, desc=f"epoch {epoch + 1}/{self.epochs}", leave=False,
                   disable=not (self.cfg.progress and self.runtime.main), dynamic_ncols=True)
        for batch in bar:
            done += 1
            bad.extend(batch["bad"])
            unpacked = self.adapter.unpack(batch, self.runtime)
            if unpacked is None:
                continue
            inputs, targets, n = unpacked
            self.runner.epoch, self.runner.step = epoch, self.global_step
            loss, outputs, terms = self.objective.train_step(self.runner, self.net, inputs, targets, epoch)
            self.global_step += 1
            right = self.adapter.correct(outputs, targets)
            totals += torch.tensor([loss.item() * n, right or 0, n, 0.0])
            if self.global_step % self.cfg.log_every == 0:
                lr = self.objective.lr
                for reporter in self.reporters:
                    reporter.step(self.global_step, loss=loss.item(), lr=lr, **{k: v.item() for k, v in terms.items()})
                bar.set_postfix(loss=f"{loss.item():.3f}", lr=f"{lr:.2e}")
            every = self.cfg.checkpoint_every_steps
            if every and self.global_step % every == 0:
                self._save("last.pt", epoch_progress={"batches": done, "totals": totals.tolist(), "bad": bad})
        totals[3] = len(bad)
        totals = distributed.all_reduce_sum(totals.to(self.runtime.device)).cpu()
        bad = [item for part in distributed.all_gather_objects(bad) for item in part]
        loss_sum, correct, count, bad_count = totals.tolist()
        self._check_bad(bad, int(bad_count), int(count + bad_count), epoch)
        accuracy = {"train_acc": correct / max(count, 1)} if self.adapter.reports_accuracy else {}
        return {"train_loss": loss_sum / max(count, 1), **accuracy, "bad_samples": int(bad_count),
                "lr": self.objective.lr}

    def _check_bad(self, bad: list[str], bad_count: int, seen: int, epoch: int) -> None:
        if not bad_count:
            return
        listed = "; ".join(bad[:MAX_LISTED_BAD]) + (f"; ... and {bad_count - MAX_LISTED_BAD} more"
                                                   if bad_count > MAX_LISTED_BAD else "")
        fraction = bad_count / max(seen, 1)
        if fraction > self.max_bad_fraction:
            raise TooManyBadSamples(f"{bad_count} of {seen} videos ({100 * fraction:.1f} %) could not be read in "
                                    f"epoch {epoch + 1}, more than data.max_bad_fraction="
                                    f"{self.max_bad_fraction}: {listed}")
        log_message(f"epoch {epoch + 1}: skipped {bad_count} unreadable video(s) of {seen}: {listed}")

    def evaluate(self, loader=None) -> dict[str, Any]:
        """The evaluator's metrics on ``loader`` (default: the validation loader)."""
        return self.evaluator.evaluate(self.net, loader or self.val_loader, self.runtime,
                                       progress=self.cfg.progress and self.runtime.main,
                                       during_training=self.training)

    def _score(self, record: dict[str, Any]) -> float | None:
        """What ``best.pt`` maximises: the evaluator's key, negated when smaller is better."""
        value = record.get(f"val_{self.evaluator.key}")
        return None if value is None else (value if self.evaluator.maximize else -value)

    def _save_interrupted(self) -> None:
        try:
            self._save("interrupted.pt", every_rank=False, interrupted=True)
        except FileWriteError as exc:
            log_message(f"stopped during epoch {self.epoch + 1}; {exc}")
            return
        log_message(f"stopped during epoch {self.epoch + 1}: weights saved to {self.out_dir / 'interrupted.pt'} "
                    f"(train.resume=<that file> repeats epoch {self.epoch + 1}; last.pt holds the last checkpoint)")

    def fit(self) -> dict[str, Any]:
        """Train to ``schedule.epochs``; the last validation metrics, ``best_<key>`` and ``epochs``."""
        metrics: dict[str, Any] = {}
        try:
            for epoch in range(self.epoch, self.epochs):
                record = {"epoch": epoch + 1, **self.train_one_epoch(epoch)}
                last = epoch + 1 == self.epochs
                if (epoch + 1) % self.cfg.eval_every == 0 or last:
                    metrics = self.evaluate()
                    record.update({f"val_{k}": v for k, v in metrics.items()})
                self.epoch = epoch + 1
                score = self._score(record)
                improved = score is not None and score > self.best_score
                if improved:
                    self.best_score = score
                self.history.append(record)
                for reporter in self.reporters:
                    reporter.epoch(self.epoch, record)
                self._save("last.pt")
                if improved:
                    self._save("best.pt")
        except BaseException as exc:
            if self.runtime.main and self.training and not isinstance(exc, FileWriteError):
                self._save_interrupted()
            raise
        finally:
            for reporter in self.reporters:
                reporter.close()
        if not metrics:
            metrics = self.evaluate()
        for reporter in self.reporters:
            reporter.end(self.history, self.evaluator)
        best = self.best_score if self.evaluator.maximize else -self.best_score
        return {**metrics, f"best_{self.evaluator.key}": best, "epochs": self.epoch}
