"""Class scores of many videos with a trained recognition model, as JSON lines (``vidaction infer``).

Each video is read with the checkpoint's test views (``data.test_clips`` clips x ``data.test_crops``
crops, the test transform) by DataLoader workers while the model runs: a batch of ``B`` videos is
``(B, V, 3, T, H, W)`` (``(B, 3, T, H, W)`` for one view), the model sees ``(B * V, 3, T, H, W)``,
and a video's probabilities are the softmax of its views' mean logits, ``(B, K)``.

The output file holds one JSON object per video: ``{"video": path, "topk": [{"label", "score"}],
"clips": C, "crops": R}``, or ``{"video": path, "error": reason}`` for a file that cannot be read.
A rerun skips the videos that already have a line (failed ones included; delete a line to redo
its video). Under torchrun each process takes its share (:mod:`vidaction.engine.sharding`) and
appends to its own part file; rank 0 then merges the parts into the output: the lines that were
there, then the new ones in the order of the sorted video list, as one process writes them.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, default_collate
from tqdm import tqdm

from vidaction.config import DataConfig
from vidaction.data.build import build_dataset_for_records
from vidaction.data.inputs import find_frame_folders, find_inputs
from vidaction.data.records import VideoRecord
from vidaction.engine.sharding import (JsonLinesWriter, ShareSummary, part_files, part_path, process_share,
                                       read_json_lines, read_list_file, remove_parts, take_share)
from vidaction.io import atomic_write_text


def collect_videos(inputs: Sequence[str | Path], data: DataConfig, list_file: str | Path | None = None) -> list[str]:
    """The videos (``data.modality="video"``: files, folders searched for video files) or frame folders
    (``"frames"``) named by ``inputs`` and ``list_file``, sorted, each once."""
    paths = [*inputs, *(read_list_file(list_file) if list_file else [])]
    if not paths:
        raise FileNotFoundError("no videos given: name files or folders, or --list FILE")
    if data.modality == "frames":
        found = find_frame_folders(paths, data.frame_template.format(data.frame_start_index))
    else:
        found = find_inputs(paths, "rgb")
    return sorted({str(path) for path in found})


def video_probabilities(model: nn.Module, clips: Tensor) -> Tensor:
    """Clips ``(B, V, 3, T, H, W)`` or ``(B, 3, T, H, W)`` -> ``(B, K)``: the softmax of the mean logits
    over each video's views."""
    views = clips.shape[1] if clips.dim() == 6 else 1
    with torch.no_grad():
        logits = model(clips.flatten(0, 1) if clips.dim() == 6 else clips).float()
    return logits.view(len(clips), views, -1).mean(1).softmax(-1)


def top_k(probabilities: Tensor, class_names: Sequence[str], k: int) -> list[dict[str, Any]]:
    """The ``k`` most probable classes of ``(K,)`` probabilities: ``[{"label", "score"}]``, best first."""
    top = probabilities.topk(min(k, len(probabilities)))
    return [{"label": class_names[i] if class_names else str(i), "score": p}
            for p, i in zip(top.values.tolist(), top.indices.tolist())]


def collate_videos(items: list[dict[str, Any]]) -> dict[str, Any]:
    """``{"clip": (B, ...) | None, "index": (B,), "failed": [(index, error)]}``; unreadable videos only
    add to ``"failed"``."""
    good = [item for item in items if item["clip"] is not None]
    return {"clip": default_collate([item["clip"] for item in good]) if good else None,
            "index": torch.tensor([item["index"] for item in good], dtype=torch.long),
            "failed": [(item["index"], item["error"]) for item in items if item["clip"] is None]}


def finished_videos(out: str | Path) -> set[str]:
    """The videos with a line in ``out`` or in a part file left beside it."""
    return {record["video"] for path in [Path(out), *part_files(out)] for record in read_json_lines(path)
            if "video" in record}


def infer_to_file(model: nn.Module, data: DataConfig, class_names: Sequence[str], videos: Sequence[str],
                  out: str | Path, k: int = 5, batch_size: int = 1, workers: int = 0,
                  device: torch.device = torch.device("cpu"), progress: bool = True) -> ShareSummary:
    """Classify this process's share of ``videos`` not yet in ``out``, appending a line per video (the
    output itself when run alone, the process's part file under torchrun). Then
    :func:`~vidaction.engine.sharding.finish_shares` (every process) has rank 0 call :func:`merge_parts`."""
    rank, world_size = process_share()
    done = finished_videos(out)
    mine = take_share(videos)
    todo = [video for video in mine if video not in done]
    summary = ShareSummary(skipped=len(mine) - len(todo))
    if not todo:
        return summary
    data = replace(data, decode_cache=0)  # one pass over each video: a cache would hold whole videos
    dataset = build_dataset_for_records(data, [VideoRecord(video, -1) for video in todo], train=False)
    loader = DataLoader(dataset, batch_size=batch_size, num_workers=workers, collate_fn=collate_videos,
                        pin_memory=device.type == "cuda")
    model = model.to(device).eval()
    target = Path(out) if world_size == 1 else part_path(out, rank)
    bar = tqdm(total=len(todo), unit="video", desc="infer", file=sys.stderr, dynamic_ncols=True,
               disable=not progress or rank != 0)
    with JsonLinesWriter(target) as writer:
        for batch in loader:
            for index, error in batch["failed"]:
                video = todo[index]
                reason = error.removeprefix(f"{video}: ")
                writer.write({"video": video, "error": reason})
                summary.failed.append(f"{video}: {reason}")
            if batch["clip"] is not None:
                probabilities = video_probabilities(model, batch["clip"].to(device, non_blocking=True)).cpu()
                for index, row in zip(batch["index"].tolist(), probabilities):
                    writer.write({"video": todo[index], "topk": top_k(row, class_names, k),
                                  "clips": data.test_clips, "crops": data.test_crops})
                    summary.done += 1
            bar.update(len(batch["index"]) + len(batch["failed"]))
            bar.set_postfix(failed=len(summary.failed), refresh=False)
    bar.close()
    return summary


def merge_parts(out: str | Path, videos: Sequence[str]) -> Path:
    """Rank 0 after every process finished: append the part files' lines to ``out`` (atomically) in
    the order of ``videos`` sorted, each video once, and delete the parts."""
    parts = part_files(out)
    if not parts:
        return Path(out)
    kept = read_json_lines(out)
    seen = {record.get("video") for record in kept}
    new = {}
    for part in parts:
        for record in read_json_lines(part):
            if "video" in record and record["video"] not in seen:
                new.setdefault(record["video"], record)
    order = {video: i for i, video in enumerate(sorted(videos))}
    ranked = sorted(new.values(), key=lambda record: (order.get(record["video"], len(order)), record["video"]))
    lines = "".join(json.dumps(record) + "\n" for record in [*kept, *ranked])
    atomic_write_text(out, lines)
    remove_parts(parts)
    return Path(out)
