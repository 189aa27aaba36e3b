"""Shared helpers of the benchmark scripts: environment line and timing."""

from __future__ import annotations

import platform
import statistics
import time
from typing import Callable

import torch


def environment() -> str:
    import av

    cpu = platform.processor() or platform.machine()
    return (f"python {platform.python_version()}, torch {torch.__version__}, PyAV {av.__version__}, "
            f"{cpu}, {torch.get_num_threads()} torch threads")


def median_seconds(fn: Callable[[], None], repeats: int, warmup: int = 1) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)
