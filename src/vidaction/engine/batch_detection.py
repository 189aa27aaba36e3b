"""Temporal action detection of many videos into one ActivityNet results file (``vidaction detect``).

Every video goes through :mod:`vidaction.engine.video_detection`'s chain. A DataLoader over the
videos prepares each one's detector input while the detector runs on the previous: in feature mode
its features ``(T, C)`` are computed (by the workers when the feature maker allows it, in this
process for I3D features on the device) into a scratch file, read window by window and deleted
once the video is done; in frame mode the windows' loader decodes the frames with the workers.

Progress goes to a part file beside the output (``OUT.rank<r>.part``, :mod:`vidaction.engine.sharding`),
one JSON line per video: ``{"video_id", "video", "duration", "results": [{"label", "score",
"segment"}]}`` or ``{"video_id", "video", "error"}``. At the end rank 0 merges the parts into
``OUT``, the results format that ``vidaction eval-detection`` reads: ``{"version", "results":
{video_id: [...]}, "external_data"}`` with every detected video (an empty list when nothing was
found), the ones already there first and the new ones by video id. A rerun skips the videos in
``OUT`` and those a part file records (an interrupted run's); a video that failed is not in ``OUT``,
so a run after a finished one tries it again.
"""

from __future__ import annotations

import json
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from vidaction.data.errors import AnnotationError, VideoDecodeError
from vidaction.data.feature_sidecar import feature_path, sidecar_path, write_features
from vidaction.data.records import DetectionVideo
from vidaction.engine.sharding import (JsonLinesWriter, ShareSummary, part_files, part_path, process_share,
                                       read_json_lines, remove_parts, take_share)
from vidaction.engine.video_detection import VideoDetections, VideoFeatures, detect_record
from vidaction.evaluation.detection_results import RESULTS_VERSION
from vidaction.io import atomic_write_text


class DetectorInputs(Dataset):
    """Item ``i``: ``{"index": i, "path": str}``, the file the detector's windows are read from for
    ``videos[i]`` (the video itself, or with ``compute`` its features written to ``scratch``), or
    ``{"index": i, "error": str}`` when the video cannot be read."""

    def __init__(self, videos: Sequence[Path], compute: VideoFeatures | None, scratch: str | Path) -> None:
        self.videos = list(videos)
        self.compute = compute
        self.scratch = Path(scratch)

    def __len__(self) -> int:
        return len(self.videos)

    def __getitem__(self, index: int) -> dict[str, Any]:
        video = self.videos[index]
        try:
            if not video.is_file():
                raise VideoDecodeError(video, "file not found")
            if self.compute is None:
                return {"index": index, "path": str(video)}
            features, sidecar = self.compute(video)
            return {"index": index, "path": str(write_features(feature_path(self.scratch, video.stem), features,
                                                                 sidecar))}
        except VideoDecodeError as exc:
            return {"index": index, "error": exc.reason}
        except (OSError, ValueError) as exc:  # ValueError: frames smaller than the extractor's crop
            return {"index": index, "error": str(exc)}


def results_of(found: VideoDetections) -> list[dict[str, Any]]:
    """One video's detections as results-file entries ``[{"label", "score", "segment"}]``."""
    detections = found.detections
    return [{"label": found.class_names[int(label)], "score": float(score), "segment": [float(s), float(e)]}
            for (s, e), score, label in zip(detections.segments.tolist(), detections.scores, detections.labels)]


def read_results_document(out: str | Path) -> dict[str, Any]:
    """The results file ``out`` as written (``{"version", "results", "external_data"}``); an empty one
    when it does not exist."""
    out = Path(out)
    if not out.is_file():
        return {"version": RESULTS_VERSION, "results": {}, "external_data": {"used": False}}
    try:
        document = json.loads(out.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise AnnotationError(out, 0, f"not a JSON results file ({exc}); choose another --out") from exc
    if not isinstance(document, dict) or not isinstance(document.get("results"), dict):
        raise AnnotationError(out, 0, "no 'results' object: not an ActivityNet results file; choose another --out")
    return document


def finished_video_ids(out: str | Path) -> set[str]:
    """Video ids in the results file ``out`` and in the part files beside it."""
    records = [record for part in part_files(out) for record in read_json_lines(part)]
    return set(read_results_document(out)["results"]) | {record["video_id"] for record in records
                                                         if "video_id" in record}


def detect_to_parts(model: nn.Module, cfg, class_names: list[str], videos: Sequence[Path], out: str | Path,
                    compute: VideoFeatures | None, compute_in_workers: bool, workers: int = 0,
                    device: torch.device = torch.device("cpu"), progress: bool = True,
                    on_video: Callable[[VideoDetections], None] | None = None) -> ShareSummary:
    """Detect this process's share of ``videos`` not yet done into its part file; ``compute`` makes a
    video's features (feature mode), ``on_video`` sees each video's detections. Then
    :func:`~vidaction.engine.sharding.finish_shares` (every process) has rank 0 call :func:`merge_parts`."""
    rank, _ = process_share()
    done = finished_video_ids(out)
    mine = take_share(videos)
    todo = [video for video in mine if video.stem not in done]
    summary = ShareSummary(skipped=len(mine) - len(todo))
    if not todo:
        return summary
    model = model.to(device).eval()
    bar = tqdm(total=len(todo), unit="video", desc="detect", file=sys.stderr, dynamic_ncols=True,
               disable=not progress or rank != 0)
    with tempfile.TemporaryDirectory() as scratch, JsonLinesWriter(part_path(out, rank)) as writer:
        inputs = DataLoader(DetectorInputs(todo, compute, scratch), batch_size=None,
                            num_workers=workers if compute is not None and compute_in_workers else 0)
        for item in inputs:
            video = todo[item["index"]]
            record = {"video_id": video.stem, "video": str(video)}
            try:
                if "error" in item:
                    raise VideoDecodeError(video, item["error"])
                found = detect_record(model, cfg, class_names,
                                      DetectionVideo(video.stem, np.zeros((0, 2)), np.zeros(0, dtype=np.int64),
                                                     path=item["path"]),
                                      device, workers=0 if compute is not None else workers)
            except VideoDecodeError as exc:
                writer.write({**record, "error": exc.reason})
                summary.failed.append(f"{video}: {exc.reason}")
            else:
                writer.write({**record, "duration": found.duration, "results": results_of(found)})
                summary.done += 1
                if on_video is not None:
                    on_video(found)
            finally:
                if compute is not None and "path" in item:
                    Path(item["path"]).unlink(missing_ok=True)
                    sidecar_path(item["path"]).unlink(missing_ok=True)
            bar.update(1)
            bar.set_postfix(failed=len(summary.failed), refresh=False)
    bar.close()
    return summary


def merge_parts(out: str | Path) -> Path:
    """Rank 0 after every process finished: add the part files' videos to the results file ``out``
    (written atomically; the new videos by id) and delete the parts."""
    parts = part_files(out)
    document = read_results_document(out)
    new = {record["video_id"]: record["results"] for part in parts for record in read_json_lines(part)
           if "results" in record and record.get("video_id") not in document["results"]}
    document["results"].update(sorted(new.items()))
    atomic_write_text(out, json.dumps(document))
    remove_parts(parts)
    return Path(out)
