"""The demo's online row: a trained online-shift TSM streamed over the test videos, frame by frame.

A row trained with ``model.options.shift_mode=online`` (the ``+online`` suffix: channels shifted
from the past only, TSM's online model) is run by
:class:`~vidaction.inference.online.OnlineRecognizer` on the decoded frames of each test video, one
frame per forward with the shift buffers carried between frames. The frames fed are every
``stride``-th from ``stride // 2``, ``stride = frames of the video // data.num_frames``, so that
consecutive frames are as far apart as the segments of the training clips (4 segments of the
16-frame synthetic videos: frames 2, 6, 10, 14, the centres of the test clip's segments). A video's prediction is the recognizer's scores after its last frame: the mean
logits of the last ``data.num_frames`` frames, which for these frames is the offline model's
prediction of a clip of exactly those frames.

Reported: online top-1 over the test videos, frames per second end to end (decoding in the source's
thread, preprocessing and the network, over all videos), and the median latency of one frame's
preprocessing and forward.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from vidaction.viz.tables import format_table


def stream_test_split(run: Path, data_root: Path) -> dict:
    """Stream the test videos of ``data_root`` through ``run``'s ``best.pt`` (module docstring); returns
    ``{"spec", "videos", "top1", "fps", "latency_ms"}``."""
    from vidaction.data.formats.ucf101 import read_ucf101
    from vidaction.engine.tasks.recognition import load_trained_model
    from vidaction.inference.online import OnlineRecognizer
    from vidaction.inference.source import FrameSource

    model, cfg, class_names = load_trained_model(run / "best.pt")
    recognizer = OnlineRecognizer(model, smooth=cfg.data.num_frames)
    videos, data_classes = read_ucf101(data_root / "annotations", data_root / "videos", 1, "test")
    right, fed, latencies = 0, 0, []
    started = time.perf_counter()
    for record in videos:
        recognizer.reset()
        with FrameSource(record.path) as source:
            frames = [frame.image for frame in source]
        stride = max(1, len(frames) // cfg.data.num_frames)
        for image in frames[stride // 2::stride]:
            tick = time.perf_counter()
            scores = recognizer(image)
            latencies.append(time.perf_counter() - tick)
            fed += 1
        right += class_names[int(scores.argmax())] == data_classes[record.label]
    seconds = time.perf_counter() - started
    return {"spec": run.name, "videos": len(videos), "top1": right / len(videos), "fps": fed / seconds,
            "latency_ms": 1000 * float(np.median(latencies))}


def online_table(results: list[dict]) -> str:
    """The online rows' table."""
    rows = [[r["spec"], str(r["videos"]), f"{100 * r['top1']:.1f}", f"{r['fps']:.0f}", f"{r['latency_ms']:.2f}"]
            for r in results]
    return format_table(["streamed model", "test videos", "online top-1 %", "frames/s", "ms/frame"], rows)
