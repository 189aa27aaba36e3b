"""Training and evaluating a temporal action detector: its objective, the window-to-video prediction
loop and a :class:`~vidaction.engine.trainer.Trainer` whose metric is the detection mAP.

- :class:`DetectionObjective`: AFSD's loss (:func:`vidaction.losses.detection.afsd_loss`) of the
  detector's raw output on a batch of windows, plus ``loss.contrastive_weight`` x the boundary
  contrastive term (:func:`~vidaction.losses.detection.boundary_contrastive_loss`) of a second
  forward on the windows' augmented copies (:class:`DetectionInputs` ``contrast``).
- :func:`predict_detections`: every test window through the detector (one stream, or several whose
  raw outputs are averaged, GAF Sec. IV-B), decoded to candidates in seconds, merged per video by
  per-class soft-NMS (:mod:`vidaction.evaluation.postprocess`); windows may be spread over batches
  and processes.
- :class:`DetectionTrainer`: the recognition trainer's loop (checkpoints, exact resume, NaN stop,
  bad-window accounting, DDP) with detection batches; validation decodes the validation windows,
  scores them with :func:`vidaction.evaluation.detection_results.evaluate_detection` and keeps ``best.pt`` by
  the average mAP. Each evaluation writes the validation detections to ``predictions.json``
  (ActivityNet results format).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import Tensor, nn
from tqdm import tqdm

from vidaction.config import DetectionLossConfig, DetectionTestConfig
from vidaction.data.records import DetectionVideo
from vidaction.engine import distributed
from vidaction.engine.trainer import Trainer
from vidaction.evaluation.detection_map import threshold_key
from vidaction.evaluation.detection_results import Detections, evaluate_detection, write_results_json
from vidaction.evaluation.postprocess import Candidates, decode_windows, fuse_streams, merge_video_detections, \
    window_candidates
from vidaction.losses.detection import afsd_loss, boundary_contrastive_loss


class DetectionInputs(NamedTuple):
    """A training batch's windows ``x`` ``(B, C, T, ...)`` and ``mask`` ``(B, T)``; ``contrast``: the
    augmented copies of those that have one, ``(input (B', C, T, ...), mask (B', T), proposals
    (B', 3, 2))``, or ``None``."""

    x: Tensor
    mask: Tensor
    contrast: tuple[Tensor, Tensor, Tensor] | None = None


def add_contrastive_term(total: Tensor, terms: dict[str, Tensor], net: nn.Module,
                         contrast: tuple[Tensor, Tensor, Tensor] | None, weight: float) -> Tensor:
    """``total + weight x`` the boundary contrastive loss of the detector's output on the augmented
    windows ``contrast = (x, mask, proposals)``, logged unweighted as ``terms["contrastive"]``;
    ``total`` itself when there are none or ``weight`` is 0.

    The forward is :meth:`~vidaction.models.detector.TemporalDetector.forward_enhanced` (the head on
    GAF's ``F'`` alone, as the authors' ``ssl`` branch) of the module inside a DistributedDataParallel
    wrapper: its parameters are among the step's first forward's, whose backward hooks all-reduce
    the gradients both forwards sum into, and a second forward through the wrapper would redo its
    bookkeeping of unused parameters."""
    if contrast is None or weight <= 0:
        return total
    x, mask, proposals = contrast
    terms["contrastive"] = boundary_contrastive_loss(getattr(net, "module", net).forward_enhanced(x, mask),
                                                     proposals, weight=1.0)
    return total + weight * terms["contrastive"]


class DetectionObjective:
    """AFSD's weighted loss; ``inputs``: :class:`DetectionInputs`, ``targets = [(segments (K, 2),
    labels (K,))]``."""

    def __init__(self, cfg: DetectionLossConfig) -> None:
        self.cfg = cfg

    def to(self, device: torch.device) -> "DetectionObjective":
        return self

    def __call__(self, net: nn.Module, inputs: DetectionInputs,
                 targets: list[tuple[Tensor, Tensor]]) -> tuple[Tensor, Any, dict[str, Tensor]]:
        output = net(inputs.x, inputs.mask)
        total, terms = afsd_loss(output, targets, piou=self.cfg.piou, loc_weight=self.cfg.loc_weight,
                                 cls_weight=self.cfg.cls_weight, boundary_weight=self.cfg.boundary_weight,
                                 branch_boundary_weight=self.cfg.branch_boundary_weight,
                                 focal_gamma=self.cfg.focal_gamma, background_alpha=self.cfg.background_alpha)
        total = add_contrastive_term(total, terms, net, inputs.contrast, self.cfg.contrastive_weight)
        return total, output, terms


def batch_to_device(batch: dict[str, Any], device: torch.device) -> tuple[DetectionInputs, list]:
    """``(inputs, targets)`` of a :func:`~vidaction.data.detection_dataset.collate_detection` batch."""
    contrast = batch.get("contrast")
    inputs = DetectionInputs(batch["input"].to(device, non_blocking=True), batch["mask"].to(device, non_blocking=True),
                             None if contrast is None else tuple(t.to(device, non_blocking=True) for t in contrast))
    targets = [(s.to(device), l.to(device)) for s, l in zip(batch["segments"], batch["labels"])]
    return inputs, targets


@torch.no_grad()
def predict_detections(nets: Sequence[nn.Module], loaders: Sequence[Any], test_cfg: DetectionTestConfig,
                       device: torch.device, durations: dict[str, float] | None = None, use_amp: bool = False,
                       progress: bool = False) -> tuple[Detections, list[str]]:
    """Detections of every video of ``loaders`` (one loader per stream, the same windows in the same
    order) and the windows that could not be read; merged over all processes."""
    for net in nets:
        net.eval()
    # Keyed by window start too: a DistributedSampler repeats windows to even out the processes.
    candidates: dict[str, dict[int, Candidates]] = {}
    bad: list[str] = []
    iterator = zip(*loaders)
    for batches in tqdm(iterator, total=len(loaders[0]), desc="detect", leave=False, disable=not progress,
                        dynamic_ncols=True):
        for batch in batches:
            bad.extend(batch["bad"])
        if any(batch["input"] is None for batch in batches):
            continue
        _check_same_windows(batches)
        outputs = []
        for net, batch in zip(nets, batches):
            with torch.autocast(device.type, enabled=use_amp):
                outputs.append(net(batch["input"].to(device), batch["mask"].to(device)))
        output = fuse_streams(outputs) if len(outputs) > 1 else outputs[0]
        segments, scores = decode_windows(_to_float(output))
        batch = batches[0]
        for b, video_id in enumerate(batch["video_id"]):
            start = int(batch["window_start"][b])
            candidates.setdefault(video_id, {})[start] = window_candidates(
                segments[b].cpu(), scores[b].cpu(), start, float(batch["seconds_per_step"][b]),
                float(batch["time_offset"][b]), test_cfg.score_threshold)
    merged: dict[str, dict[int, Candidates]] = {}
    for part in distributed.all_gather_objects(candidates):
        for video_id, windows in part.items():
            merged.setdefault(video_id, {}).update(windows)
    bad = [item for part in distributed.all_gather_objects(bad) for item in part]
    per_video = []
    for video_id in sorted(merged):
        found = merge_video_detections([merged[video_id][start] for start in sorted(merged[video_id])],
                                       test_cfg.nms_sigma, test_cfg.nms_top_k,
                                       test_cfg.nms_score_threshold,
                                       None if durations is None else durations.get(video_id),
                                       test_cfg.max_detections or None)
        per_video.append(Detections.for_video(video_id, np.array([d.segment for d in found]).reshape(-1, 2),
                                              np.array([d.score for d in found]),
                                              np.array([d.label for d in found], dtype=np.int64)))
    return Detections.concatenate(per_video), bad


def _to_float(output):
    return output._replace(**{name: value.float() for name, value in output._asdict().items()
                              if isinstance(value, Tensor) and value.is_floating_point()})


def _check_same_windows(batches: Sequence[dict[str, Any]]) -> None:
    first = batches[0]
    for index, other in enumerate(batches[1:], start=1):
        if other["video_id"] != first["video_id"] or not torch.equal(other["window_start"], first["window_start"]):
            raise ValueError(f"stream {index} reads other windows than stream 0 (videos {other['video_id'][:3]} vs "
                             f"{first['video_id'][:3]}): fused streams need the same videos, fps and windows")


def detection_metrics(ground_truth: Sequence[DetectionVideo], detections: Detections, class_names: Sequence[str],
                      tiou_thresholds: Sequence[float]) -> dict[str, Any]:
    """``{"mAP@<t>": ..., "average_mAP": ..., "num_detections": ...}`` (fractions) and the per-class APs."""
    metrics = evaluate_detection(ground_truth, detections, class_names, tiou_thresholds)
    values = {f"mAP@{threshold_key(t)}": float(m) for t, m in zip(metrics.tiou_thresholds, metrics.map_per_threshold)}
    return {**values, "average_mAP": float(metrics.average_map), "num_detections": len(detections),
            "num_videos": len(ground_truth),
            "per_class_ap": {name: [None if np.isnan(a) else float(a) for a in metrics.ap[:, c]]
                             for c, name in enumerate(metrics.class_names)}}


class DetectionTrainer(Trainer):
    """:class:`Trainer` for :class:`~vidaction.models.detector.TemporalDetector` on window batches;
    validation metric: the average mAP over ``tiou_thresholds`` against ``ground_truth``."""

    def __init__(self, model: nn.Module, optim_cfg, schedule_cfg, train_cfg, train_loader, val_loader,
                 class_names: list[str], ground_truth: Sequence[DetectionVideo], test_cfg: DetectionTestConfig,
                 tiou_thresholds: Sequence[float], objective, max_bad_fraction: float = 0.05,
                 extra_state: dict[str, Any] | None = None, durations: dict[str, float] | None = None) -> None:
        self.ground_truth = list(ground_truth)
        self.test_cfg = test_cfg
        self.tiou_thresholds = [float(t) for t in tiou_thresholds]
        self.durations = durations
        self.last_per_class_ap: dict[str, list] = {}
        super().__init__(model, optim_cfg, schedule_cfg, train_cfg, train_loader, val_loader, class_names,
                         max_bad_fraction=max_bad_fraction, extra_state=extra_state, objective=objective)

    @property
    def reports_accuracy(self) -> bool:
        return False

    def batch_inputs(self, batch: dict[str, Any]) -> tuple[Any, Any, int] | None:
        if batch["input"] is None:
            return None
        inputs, targets = batch_to_device(batch, self.device)
        return inputs, targets, len(targets)

    def evaluate(self, loader=None) -> dict[str, Any]:
        """mAP of the validation windows' detections; writes ``predictions.json`` on rank 0."""
        detections, bad = predict_detections([self.net], [loader or self.val_loader], self.test_cfg, self.device,
                                             self.durations, self.use_amp, self.cfg.progress and self.main)
        metrics = detection_metrics(self.ground_truth, detections, self.class_names, self.tiou_thresholds)
        self.last_per_class_ap = metrics.pop("per_class_ap")
        if self.main and self.optimizer is not None:
            write_results_json(self.out_dir / "predictions.json", detections, self.class_names)
        return {**metrics, "bad_windows": len(bad)}

    def _score(self, record: dict[str, Any]) -> float | None:
        return record.get("val_average_mAP")

    def fit(self) -> dict[str, Any]:
        metrics = super().fit()
        best = metrics.pop("best_top1")
        return {**metrics, "best_average_mAP": best}

    def _write_reports(self) -> None:
        if not self.main:
            return
        from vidaction.viz.curves import plot_training_curves

        (self.out_dir / "history.json").write_text(json.dumps(self.history, indent=1))
        (self.out_dir / "per_class_ap.json").write_text(json.dumps(
            {"tiou_thresholds": self.tiou_thresholds, "ap": self.last_per_class_ap}, indent=1))
        plot_training_curves(self.history, self.out_dir / "curves.png", metric="val_average_mAP",
                             metric_label="val average mAP")
