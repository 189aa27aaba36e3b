"""The online recognition loop: frames from a :class:`~vidaction.inference.source.FrameSource` through an
:class:`~vidaction.inference.online.OnlineRecognizer`, one :class:`StreamResult` per processed frame.

Decoding runs in the source's thread, the network in the caller's; ``latency_ms`` is one frame's
preprocessing and forward, ``fps`` the frames processed per second of wall time since the first
frame arrived (decoding, waiting and the caller's own work, e.g. writing a video, included).
"""

from __future__ import annotations

import time
from typing import Iterator, NamedTuple

import numpy as np

from vidaction.inference.online import OnlineRecognizer
from vidaction.inference.source import FrameSource


class StreamResult(NamedTuple):
    """One processed frame: its index among the decoded frames and time (s), the top-k ``(label,
    probability)`` of the (smoothed) scores, its latency, the achieved rate, the frames dropped so
    far, and the RGB frame ``uint8 (H, W, 3)``."""

    index: int
    time: float | None
    topk: list[tuple[str, float]]
    latency_ms: float
    fps: float
    dropped: int
    image: np.ndarray


def recognize_stream(recognizer: OnlineRecognizer, source: FrameSource, topk: int = 5) -> Iterator[StreamResult]:
    """Recognise every frame ``source`` hands over (a live source drops those the loop is too slow for)."""
    names = recognizer.class_names
    start, processed = None, 0
    for frame in source:
        begin = time.perf_counter()
        start = begin if start is None else start
        probabilities = recognizer(frame.image).softmax(-1)
        done = time.perf_counter()
        processed += 1
        top = probabilities.topk(min(topk, probabilities.numel()))
        ranked = [(names[i] if i < len(names) else str(i), p)
                  for p, i in zip(top.values.tolist(), top.indices.tolist())]
        yield StreamResult(frame.index, frame.time, ranked, (done - begin) * 1000.0,
                           processed / max(done - start, 1e-9), source.dropped, frame.image)
