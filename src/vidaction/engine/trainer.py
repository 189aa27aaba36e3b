"""The recognition training and evaluation loop.

- Device: ``train.device`` ('auto' = this process's CUDA device under torchrun, else CPU). AMP
  (``torch.autocast`` + ``GradScaler``) and channels_last apply on CUDA only; ``torch.compile`` on
  request. Several processes (torchrun) wrap the model in DistributedDataParallel.
- Each epoch: optional partial BN, label-smoothed cross-entropy, gradient clipping, a per-iteration
  schedule. A non-finite loss stops the run *before* the optimiser step, naming the epoch and step;
  the BatchNorm statistics that forward pass touched are restored, so no weight or buffer is
  corrupted.
- Bad videos (items the data layer could not decode) are skipped, counted and listed at the epoch
  end; more than ``max_bad_fraction`` of an epoch stops the run with :class:`TooManyBadSamples`.
- Evaluation: the video score is the mean of the logits over its views (clips x crops), as TSM's
  test script does. Metrics are fractions in [0, 1]: ``top1``, ``top5``, ``mean_class_acc``.
- Self-supervised training (``self_supervised=True``, e.g. HCML's progressive phase): the
  objective's own loss is the metric; validation reports its mean terms and ``best.pt`` keeps the
  lowest validation loss. ``trainable`` restricts training to some modules: every other parameter
  is frozen (no gradient, not in the optimiser) and every other module stays in eval mode, so
  frozen BatchNorm statistics do not drift. ``train.sync_bn`` synchronises BatchNorm statistics
  across processes (CUDA, several processes).
- Checkpoints (``last.pt`` each epoch, ``best.pt`` on a new best top-1) are written atomically and
  hold the model, optimiser, scheduler, scaler, epoch, step, history and every RNG state, so
  ``train.resume`` continues exactly from an epoch boundary. An exception or Ctrl-C inside an epoch
  writes ``interrupted.pt`` (the weights at that moment, ``interrupted: True``, the epoch counter at
  the last completed epoch, so resuming from it repeats the interrupted epoch) before re-raising.
"""

from __future__ import annotations

import json
import random
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from vidaction.config import OptimConfig, ScheduleConfig, TrainConfig
from vidaction.data.labels import head_sizes, split_heads
from vidaction.engine import distributed
from vidaction.engine.checkpoint import load_checkpoint, save_checkpoint
from vidaction.engine.logger import RunLogger
from vidaction.engine.objectives import CrossEntropyObjective, classification_loss, correct_predictions
from vidaction.engine.optim import build_optimizer, build_scheduler
from vidaction.engine.partial_bn import freeze_partial_bn
from vidaction.evaluation.classification import (confusion_matrix, mean_class_accuracy, multihead_metrics,
                                                 topk_accuracy)

MAX_LISTED_BAD = 10


class TooManyBadSamples(RuntimeError):
    """More undecodable videos in an epoch than ``max_bad_fraction`` allows."""


class NonFiniteLossError(FloatingPointError):
    """The loss became NaN or infinite; the weights were not updated with it."""


def log_message(message: str) -> None:
    """Print ``message`` on rank 0 without breaking the progress bars."""
    if distributed.is_main_process():
        tqdm.write(message, file=sys.stderr)


def _resolve_device(name: str) -> torch.device:
    return distributed.local_device() if name == "auto" else torch.device(name)


def rng_state() -> dict[str, Any]:
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def convert_sync_batchnorm(model: nn.Module, trainable: list[nn.Module] | None
                           ) -> tuple[nn.Module, list[nn.Module] | None]:
    """``model`` with SyncBatchNorm layers, and ``trainable`` as the same-named modules of the
    converted model: the conversion replaces BatchNorm modules, so a trainable BatchNorm listed by
    object (HCML's stages list ``backbone.bn1``) would otherwise be left behind in eval mode."""
    names = None if trainable is None else [_module_name(model, module) for module in trainable]
    converted = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    return converted, None if names is None else [converted.get_submodule(name) for name in names]


def _module_name(model: nn.Module, module: nn.Module) -> str:
    for name, candidate in model.named_modules():
        if candidate is module:
            return name
    raise ValueError(f"trainable module {type(module).__name__} is not part of the model")


class Trainer:
    """Fit and evaluate a classifier ``(N, 3, T, H, W) -> (N, K)`` on loaders of ``collate_clips`` batches."""

    def __init__(self, model: nn.Module, optim_cfg: OptimConfig, schedule_cfg: ScheduleConfig,
                 train_cfg: TrainConfig, train_loader, val_loader, class_names: list[str],
                 max_bad_fraction: float = 0.05, extra_state: dict[str, Any] | None = None,
                 objective=None, self_supervised: bool = False,
                 trainable: Sequence[nn.Module] | None = None) -> None:
        self.optim_cfg, self.schedule_cfg, self.cfg = optim_cfg, schedule_cfg, train_cfg
        self.train_loader, self.val_loader = train_loader, val_loader
        self.class_names = list(class_names)
        self.max_bad_fraction = max_bad_fraction
        self.extra_state = extra_state or {}
        self.out_dir = Path(train_cfg.out_dir)
        self.main = distributed.is_main_process()
        seed_everything(train_cfg.seed + distributed.rank())
        if train_cfg.deterministic:
            torch.use_deterministic_algorithms(True, warn_only=True)
        self.device = _resolve_device(train_cfg.device)
        self.head_sizes = head_sizes(self.class_names) if self.class_names else ()
        self.objective = (objective or CrossEntropyObjective(optim_cfg.label_smoothing,
                                                             self.head_sizes)).to(self.device)
        self.cuda = self.device.type == "cuda"
        self.use_amp = train_cfg.amp and self.cuda
        self.channels_last = train_cfg.channels_last and self.cuda
        self.self_supervised = self_supervised
        self.trainable = list(trainable) if trainable is not None else None
        if self.trainable is not None:
            model.requires_grad_(False)
            for module in self.trainable:
                module.requires_grad_(True)
        if train_cfg.sync_bn and self.cuda and distributed.world_size() > 1:
            model, self.trainable = convert_sync_batchnorm(model, self.trainable)
        self.model = model.to(self.device)
        if self.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.net: nn.Module = self.model
        if distributed.world_size() > 1:
            self.net = DistributedDataParallel(self.model, device_ids=[self.device.index] if self.cuda else None,
                                               find_unused_parameters=self.find_unused_parameters)
        if train_cfg.compile:
            self.net = torch.compile(self.net)
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=self.use_amp)
        self.optimizer = self.scheduler = None
        if train_loader is not None:
            self.build_optimizers()
        self.epoch = 0
        self.global_step = 0
        self.best_score = -float("inf")
        self.history: list[dict[str, Any]] = []
        self.last_confusion: np.ndarray | None = None
        self.logger = RunLogger(self.out_dir, enabled=self.main and train_loader is not None,
                                tensorboard=train_cfg.tensorboard)
        if train_cfg.resume:
            self._resume(train_cfg.resume)

    # Objectives that leave some parameters unused in a step (GAF's alternating steps) set this.
    find_unused_parameters = False

    def build_optimizers(self) -> None:
        """``self.optimizer`` over the trainable parameters and its per-iteration ``self.scheduler``."""
        self.optimizer = build_optimizer(self.model.parameters(), self.optim_cfg)
        self.scheduler = build_scheduler(self.optimizer, self.schedule_cfg, len(self.train_loader))

    def _state(self) -> dict[str, Any]:
        return {
            "format": "vidaction",
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
            "epoch": self.epoch,
            "global_step": self.global_step,
            "best_score": self.best_score,
            "history": self.history,
            "rng": rng_state(),
            "class_names": self.class_names,
            "pretrained_cfg": getattr(self.model, "pretrained_cfg", {}),
            **self.extra_state,
        }

    def _save(self, name: str, **extra: Any) -> None:
        if self.main:
            save_checkpoint(self.out_dir / name, {**self._state(), **extra})

    def _resume(self, path: str) -> None:
        state = load_checkpoint(path)
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.scaler.load_state_dict(state["scaler"])
        self.epoch, self.global_step = state["epoch"], state["global_step"]
        self.best_score, self.history = state["best_score"], state["history"]
        set_rng_state(state["rng"])
        log_message(f"resumed from {path} at epoch {self.epoch}")

    def _to_device(self, clip: torch.Tensor) -> torch.Tensor:
        clip = clip.to(self.device, non_blocking=True)
        if self.channels_last and clip.dim() == 5:
            clip = clip.contiguous(memory_format=torch.channels_last_3d)
        return clip

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
        bar = tqdm(self.train_loader, desc=f"epoch {epoch + 1}/{self.schedule_cfg.epochs}", leave=False,
                   disable=not (self.cfg.progress and self.main), dynamic_ncols=True)
        for batch in bar:
            bad.extend(batch["bad"])
            unpacked = self.batch_inputs(batch)
            if unpacked is None:
                continue
            inputs, targets, n = unpacked
            loss, outputs, terms = self.train_step(inputs, targets, epoch)
            self.global_step += 1
            right = self.count_correct(outputs, targets)
            totals += torch.tensor([loss.item() * n, right or 0, n, 0.0])
            if self.global_step % self.cfg.log_every == 0:
                lr = self.optimizer.param_groups[0]["lr"]
                self.logger.log("train_step", self.global_step, loss=loss.item(), lr=lr,
                                **{k: v.item() for k, v in terms.items()})
                bar.set_postfix(loss=f"{loss.item():.3f}", lr=f"{lr:.2e}")
        totals[3] = len(bad)
        totals = distributed.all_reduce_sum(totals.to(self.device)).cpu()
        bad = [item for part in distributed.all_gather_objects(bad) for item in part]
        loss_sum, correct, count, bad_count = totals.tolist()
        self._check_bad(bad, int(bad_count), int(count + bad_count), epoch)
        accuracy = {"train_acc": correct / max(count, 1)} if self.reports_accuracy else {}
        return {"train_loss": loss_sum / max(count, 1), **accuracy,
                "bad_samples": int(bad_count), "lr": self.optimizer.param_groups[0]["lr"]}

    @property
    def reports_accuracy(self) -> bool:
        """Whether training batches have a classification accuracy (not for self-supervised objectives)."""
        return not self.self_supervised

    def batch_inputs(self, batch: dict[str, Any]) -> tuple[Any, Any, int] | None:
        """``(inputs, targets, count)`` of a training batch on the device; ``None`` if nothing was readable."""
        if batch["clip"] is None:
            return None
        return self._to_device(batch["clip"]), batch["label"].to(self.device), len(batch["label"])

    def count_correct(self, outputs: Any, targets: Any) -> int | None:
        """Right predictions of a training batch, ``None`` when :attr:`reports_accuracy` is false."""
        if not self.reports_accuracy:
            return None
        return int(correct_predictions(outputs, targets, self.head_sizes).sum().item())

    def check_finite(self, loss: torch.Tensor, terms: dict[str, torch.Tensor], buffers: list[torch.Tensor],
                     epoch: int) -> None:
        """Stop before any update when the loss is NaN/inf, naming the terms at fault; restore the
        buffers (BatchNorm statistics) that the forward pass touched to ``buffers``."""
        if torch.isfinite(loss):
            return
        with torch.no_grad():
            for buffer, saved in zip(self.model.buffers(), buffers):
                buffer.copy_(saved)
        bad_terms = ", ".join(f"{k}={v.item()}" for k, v in terms.items() if not torch.isfinite(v)) or "total"
        raise NonFiniteLossError(f"loss is {loss.item()} ({bad_terms}) at epoch {epoch + 1}, step "
                                 f"{self.global_step + 1}: stopped before updating the weights")

    def optimizer_step(self, loss: torch.Tensor, optimizer: torch.optim.Optimizer,
                       parameters: list[nn.Parameter] | None = None, scaler: torch.amp.GradScaler | None = None,
                       grad_clip: float | None = None) -> None:
        """Backward (AMP-scaled by ``scaler``, default the trainer's), clipping of ``parameters``
        (default: all) at ``grad_clip`` (default ``optim.grad_clip``), one ``optimizer`` step."""
        scaler = scaler or self.scaler
        grad_clip = self.optim_cfg.grad_clip if grad_clip is None else grad_clip
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        if grad_clip > 0:
            scaler.unscale_(optimizer)
            nn.utils.clip_grad_norm_(parameters if parameters is not None else self.model.parameters(), grad_clip)
        scaler.step(optimizer)
        scaler.update()

    def train_step(self, inputs: Any, targets: Any, epoch: int) -> tuple[torch.Tensor, Any, dict[str, torch.Tensor]]:
        """One optimisation step on a batch: ``(loss, outputs, terms)``."""
        buffers = [b.detach().clone() for b in self.model.buffers()]
        with torch.autocast(self.device.type, enabled=self.use_amp):
            loss, outputs, terms = self.objective(self.net, inputs, targets)
        self.check_finite(loss, terms, buffers, epoch)
        self.optimizer_step(loss, self.optimizer)
        self.scheduler.step()
        return loss, outputs, terms

    def _check_bad(self, bad: list[str], bad_count: int, seen: int, epoch: int) -> None:
        if not bad_count:
            return
        listed = "\n  ".join(bad[:MAX_LISTED_BAD]) + (f"\n  ... and {bad_count - MAX_LISTED_BAD} more"
                                                      if bad_count > MAX_LISTED_BAD else "")
        fraction = bad_count / max(seen, 1)
        if fraction > self.max_bad_fraction:
            raise TooManyBadSamples(f"{bad_count} of {seen} videos ({100 * fraction:.1f} %) could not be read in "
                                    f"epoch {epoch + 1}, more than data.max_bad_fraction="
                                    f"{self.max_bad_fraction}:\n  {listed}")
        log_message(f"epoch {epoch + 1}: skipped {bad_count} unreadable video(s) of {seen}:\n  {listed}")

    @torch.no_grad()
    def predict(self, loader) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, list[str]]:
        """``(scores (V, K), labels (V,), indices (V,), bad)`` over the whole loader, all processes."""
        self.net.eval()
        scores, labels, indices, bad = [], [], [], []
        for batch in tqdm(loader, desc="eval", leave=False, disable=not (self.cfg.progress and self.main),
                          dynamic_ncols=True):
            bad.extend(batch["bad"])
            if batch["clip"] is None:
                continue
            clip = batch["clip"]
            views = clip.shape[1] if clip.dim() == 6 else 1
            clip = self._to_device(clip.flatten(0, 1) if clip.dim() == 6 else clip)
            with torch.autocast(self.device.type, enabled=self.use_amp):
                logits = self.net(clip).float()
            scores.append(logits.view(-1, views, logits.shape[-1]).mean(1).cpu())
            labels.append(batch["label"])
            indices.append(batch["index"])
        heads = max(len(self.head_sizes), 1)
        local = (torch.cat(scores) if scores else torch.empty(0, len(self.class_names)),
                 torch.cat(labels) if labels else torch.empty((0, heads) if heads > 1 else (0,), dtype=torch.long),
                 torch.cat(indices) if indices else torch.empty(0, dtype=torch.long), bad)
        parts = distributed.all_gather_objects(local)
        score = torch.cat([p[0] for p in parts])
        label = torch.cat([p[1] for p in parts])
        index = torch.cat([p[2] for p in parts])
        # DistributedSampler pads the last round with repeats; keep one prediction per video.
        index, keep = np.unique(index.numpy(), return_index=True)
        return score[keep], label[keep], torch.from_numpy(index), [b for p in parts for b in p[3]]

    @torch.no_grad()
    def evaluate_objective(self, loader) -> dict[str, Any]:
        """Mean loss and terms of the objective over every view of ``loader``, all processes."""
        self.net.eval()
        sums: dict[str, float] = {}
        count, bad = 0, []
        for batch in tqdm(loader, desc="eval", leave=False, disable=not (self.cfg.progress and self.main),
                          dynamic_ncols=True):
            bad.extend(batch["bad"])
            if batch["clip"] is None:
                continue
            clip, labels = batch["clip"], batch["label"]
            if clip.dim() == 6:
                labels = labels.repeat_interleave(clip.shape[1], dim=0)
                clip = clip.flatten(0, 1)
            with torch.autocast(self.device.type, enabled=self.use_amp):
                loss, _, terms = self.objective(self.net, self._to_device(clip), labels.to(self.device))
            n = len(clip)
            for key, value in {"loss": loss, **terms}.items():
                sums[key] = sums.get(key, 0.0) + value.item() * n
            count += n
        keys = sorted(sums)
        totals = torch.tensor([sums[k] for k in keys] + [count, len(bad)], dtype=torch.float64)
        totals = distributed.all_reduce_sum(totals.to(self.device)).cpu().tolist()
        count = max(totals[-2], 1)
        return {**{k: v / count for k, v in zip(keys, totals)}, "num_views": int(totals[-2]),
                "bad_videos": int(totals[-1])}

    def evaluate(self, loader=None) -> dict[str, Any]:
        """Video-level metrics on ``loader`` (default: the validation loader); the objective's mean
        terms when self-supervised."""
        if self.self_supervised:
            return self.evaluate_objective(loader or self.val_loader)
        scores, labels, _, bad = self.predict(loader or self.val_loader)
        loss = classification_loss(scores, labels, self.head_sizes).item() if len(labels) else float("nan")
        if len(self.head_sizes) > 1:
            heads = [(name, len(names)) for name, names in split_heads(self.class_names)]
            return {**multihead_metrics(scores, labels, heads), "loss": loss, "num_videos": int(len(labels)),
                    "bad_videos": len(bad)}
        num_classes = scores.shape[1]
        top1, top5 = topk_accuracy(scores, labels, ks=(1, min(5, num_classes)))
        self.last_confusion = confusion_matrix(scores.argmax(1), labels, num_classes)
        return {
            "top1": top1, "top5": top5,
            "mean_class_acc": mean_class_accuracy(scores, labels, num_classes),
            "loss": loss,
            "num_videos": int(len(labels)), "bad_videos": len(bad),
        }

    def _score(self, record: dict[str, Any]) -> float | None:
        """What ``best.pt`` maximises: validation top-1, or minus the validation loss when self-supervised."""
        if self.self_supervised:
            return -record["val_loss"] if "val_loss" in record else None
        return record.get("val_top1")

    def fit(self) -> dict[str, Any]:
        """Train to ``schedule.epochs``; returns the last validation metrics and the best top-1 (the
        best validation loss when self-supervised)."""
        metrics: dict[str, Any] = {}
        try:
            for epoch in range(self.epoch, self.schedule_cfg.epochs):
                record = {"epoch": epoch + 1, **self.train_one_epoch(epoch)}
                last = epoch + 1 == self.schedule_cfg.epochs
                if (epoch + 1) % self.cfg.eval_every == 0 or last:
                    metrics = self.evaluate()
                    record.update({f"val_{k}": v for k, v in metrics.items()})
                self.epoch = epoch + 1
                score = self._score(record)
                improved = score is not None and score > self.best_score
                if improved:
                    self.best_score = score
                self.history.append(record)
                self.logger.log("epoch", self.epoch, **record)
                self._save("last.pt")
                if improved:
                    self._save("best.pt")
                log_message(" ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}"
                                     for k, v in record.items()))
        except BaseException:
            if self.main and self.optimizer is not None:
                self._save("interrupted.pt", interrupted=True)
                log_message(f"stopped during epoch {self.epoch + 1}: weights saved to "
                            f"{self.out_dir / 'interrupted.pt'} (train.resume=<that file> repeats epoch "
                            f"{self.epoch + 1}; last.pt holds epoch {self.epoch})")
            raise
        finally:
            self.logger.close()
        if not metrics:
            metrics = self.evaluate()
        self._write_reports()
        best = {"best_loss": -self.best_score} if self.self_supervised else {"best_top1": self.best_score}
        return {**metrics, **best, "epochs": self.epoch}

    def _write_reports(self) -> None:
        if not self.main:
            return
        from vidaction.viz.confusion import plot_confusion_matrix
        from vidaction.viz.curves import plot_training_curves

        (self.out_dir / "history.json").write_text(json.dumps(self.history, indent=1))
        plot_training_curves(self.history, self.out_dir / "curves.png")
        if self.last_confusion is not None:
            (self.out_dir / "confusion.json").write_text(json.dumps(self.last_confusion.tolist()))
            plot_confusion_matrix(self.last_confusion, self.class_names, self.out_dir / "confusion.png")
