"""Predictions over a whole loader, gathered from every process.

- :func:`predict_scores`: a classifier's video scores ``(V, K)``, the mean of the logits over each
  video's views (clips x crops), as TSM's test script does.
- :func:`predict_detections`: every test window through the detector (one stream, or several whose
  raw outputs are averaged, GAF Sec. IV-B), decoded to candidates in seconds, merged per video by
  per-class soft-NMS (:mod:`vidaction.evaluation.postprocess`); windows may be spread over batches
  and processes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from tqdm import tqdm

from vidaction.config import DetectionTestConfig
from vidaction.engine import distributed
from vidaction.engine.runtime import Runtime
from vidaction.evaluation.detection_results import Detections
from vidaction.evaluation.postprocess import Candidates, decode_windows, fuse_streams, merge_video_detections, \
    window_candidates


@torch.no_grad()
def predict_scores(net: nn.Module, loader, runtime: Runtime, num_classes: int, num_heads: int = 1,
                   progress: bool = False) -> tuple[Tensor, Tensor, Tensor, list[str]]:
    """``(scores (V, K), labels (V,) or (V, H), indices (V,), bad)`` over the whole loader, all
    processes, one row per video."""
    net.eval()
    scores, labels, indices, bad = [], [], [], []
    for batch in tqdm(loader, desc="eval", leave=False, disable=not progress, dynamic_ncols=True):
        bad.extend(batch["bad"])
        if batch["clip"] is None:
            continue
        clip = batch["clip"]
        views = clip.shape[1] if clip.dim() == 6 else 1
        clip = runtime.clip_to_device(clip.flatten(0, 1) if clip.dim() == 6 else clip)
        with runtime.autocast():
            logits = net(clip).float()
        scores.append(logits.view(-1, views, logits.shape[-1]).mean(1).cpu())
        labels.append(batch["label"])
        indices.append(batch["index"])
    local = (torch.cat(scores) if scores else torch.empty(0, num_classes),
             torch.cat(labels) if labels else torch.empty((0, num_heads) if num_heads > 1 else (0,), dtype=torch.long),
             torch.cat(indices) if indices else torch.empty(0, dtype=torch.long), bad)
    parts = distributed.all_gather_objects(local)
    score = torch.cat([p[0] for p in parts])
    label = torch.cat([p[1] for p in parts])
    index = torch.cat([p[2] for p in parts])
    # DistributedSampler pads the last round with repeats; keep one prediction per video.
    index, keep = np.unique(index.numpy(), return_index=True)
    return score[keep], label[keep], torch.from_numpy(index), [b for p in parts for b in p[3]]


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
