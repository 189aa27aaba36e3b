"""Shared helpers of the benchmark scripts: environment line and timing."""

from __future__ import annotations

import platform
import statistics
import time
from typing import Callable

import torch


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``), else the machine type: float results, and so
    training runs, can differ between CPU models even with the same seed."""
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    return f"{line.split(':', 1)[1].strip()} ({platform.machine()})"
    except OSError:
        pass
    return platform.processor() or platform.machine()


def environment() -> str:
    import av

    return (f"python {platform.python_version()}, torch {torch.__version__}, PyAV {av.__version__}, "
            f"{cpu_model()}, {torch.get_num_threads()} torch threads")


def median_seconds(fn: Callable[[], None], repeats: int, warmup: int = 1) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)
