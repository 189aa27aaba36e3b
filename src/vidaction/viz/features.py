"""GAF's features over a video (its Fig. 6): the backbone map before and after the generative attention
as channel x time images, and the attention lambda over the timeline with the ground truth shaded.

All images show the same channels, the ``max_channels`` with the largest variance over time in the
original map, each channel scaled by its largest absolute value in the original, so that where
the attention suppresses background the enhanced image fades and where it keeps actions it stays.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from vidaction.viz.figures import save_figure


def plot_feature_attention(times: np.ndarray, maps: dict[str, np.ndarray], lambdas: np.ndarray,
                           path: str | Path, ground_truth: Sequence[tuple[float, float, int]] = (),
                           class_names: Sequence[str] = (), duration: float | None = None, title: str = "",
                           max_channels: int = 64, xlabel: str = "time (s)") -> Path:
    """Write the PNG: one channel x time image per entry of ``maps`` (``{name: (C, N)}`` at ``times``
    ``(N,)``, the first being the original map that picks and scales the channels), then ``lambdas``
    ``(N,)`` in [0, 1] with ``ground_truth`` ``(start, end, class)`` shaded (units of ``times``)."""
    arrays = list(maps.values())
    if not arrays or any(a.shape != arrays[0].shape for a in arrays) or arrays[0].shape[1] != len(times) \
            or len(lambdas) != len(times):
        raise ValueError(f"maps {[a.shape for a in arrays]}, times {len(times)} and lambdas {len(lambdas)} must "
                         "agree: (C, N) each, (N,), (N,)")
    original = arrays[0]
    order = np.argsort(original.var(axis=1))[::-1][:max_channels]
    scale = np.abs(original[order]).max(axis=1, keepdims=True) + 1e-8
    end = duration if duration is not None else float(times[-1])
    half = float(times[1] - times[0]) / 2 if len(times) > 1 else (end - float(times[0]) if end > times[0] else 0.5)
    extent = (float(times[0]) - half, float(times[-1]) + half, len(order), 0)
    fig, axes = plt.subplots(len(maps) + 1, 1, figsize=(12, 2.5 * len(maps) + 2), sharex=True,
                             gridspec_kw={"height_ratios": [2] * len(maps) + [1]})
    for ax, (name, data) in zip(axes, maps.items()):
        ax.imshow(data[order] / scale, aspect="auto", cmap="RdBu_r", vmin=-1, vmax=1, extent=extent,
                  interpolation="nearest")
        ax.set_ylabel(f"{name}\nchannels")
    axes[-1].plot(times, lambdas, color="C3", marker="." if len(times) < 32 else None, label="lambda")
    for start, stop, label in ground_truth:
        axes[-1].axvspan(start, stop, color="0.8", lw=0)
        if class_names:
            axes[-1].text((start + stop) / 2, 1.02, class_names[int(label)], ha="center", va="bottom", fontsize=7)
    axes[-1].set(ylim=(-0.05, 1.15), xlim=(0, end), ylabel="lambda", xlabel=xlabel)
    axes[-1].grid(alpha=0.3)
    axes[0].set_title(title or "features before and after GAF; lambda with the ground truth shaded")
    return save_figure(fig, path)
