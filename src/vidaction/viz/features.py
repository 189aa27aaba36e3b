"""GAF's features over a video (its Fig. 6): the backbone map before and after the generative attention
as channel x time images, and the attention lambda over the timeline with the ground truth shaded.

Both images show the same channels, the ``max_channels`` with the largest variance over time in the
original map, each channel scaled by its largest absolute value in the original, so that where
the attention suppresses background the enhanced image fades and where it keeps actions it stays.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from vidaction.viz.figures import save_figure


def plot_feature_attention(times: np.ndarray, original: np.ndarray, enhanced: np.ndarray, lambdas: np.ndarray,
                           path: str | Path, ground_truth: Sequence[tuple[float, float, int]] = (),
                           class_names: Sequence[str] = (), duration: float | None = None, title: str = "",
                           max_channels: int = 64) -> Path:
    """Write the three-panel PNG. ``original`` / ``enhanced``: ``(C, N)`` at ``times`` ``(N,)`` s;
    ``lambdas`` ``(N,)`` in [0, 1]; ``ground_truth``: ``(start, end, class)`` in seconds."""
    if original.shape != enhanced.shape or original.shape[1] != len(times) or len(lambdas) != len(times):
        raise ValueError(f"original {original.shape}, enhanced {enhanced.shape}, times {len(times)} and lambdas "
                         f"{len(lambdas)} must agree: (C, N), (C, N), (N,), (N,)")
    order = np.argsort(original.var(axis=1))[::-1][:max_channels]
    scale = np.abs(original[order]).max(axis=1, keepdims=True) + 1e-8
    end = duration if duration is not None else float(times[-1])
    extent = (float(times[0]), float(times[-1]), len(order), 0)
    fig, axes = plt.subplots(3, 1, figsize=(12, 7), sharex=True, gridspec_kw={"height_ratios": [2, 2, 1]})
    for ax, data, name in ((axes[0], original, "original"), (axes[1], enhanced, "attention-enhanced F'")):
        ax.imshow(data[order] / scale, aspect="auto", cmap="RdBu_r", vmin=-1, vmax=1, extent=extent,
                  interpolation="nearest")
        ax.set_ylabel(f"{name}\nchannels")
    axes[2].plot(times, lambdas, color="C3", label="lambda")
    for start, stop, label in ground_truth:
        axes[2].axvspan(start, stop, color="0.8", lw=0)
        if class_names:
            axes[2].text((start + stop) / 2, 1.02, class_names[int(label)], ha="center", va="bottom", fontsize=7)
    axes[2].set(ylim=(-0.05, 1.15), xlim=(0, end), ylabel="lambda", xlabel="time (s)")
    axes[2].grid(alpha=0.3)
    axes[0].set_title(title or "features before and after GAF; lambda with the ground truth shaded")
    return save_figure(fig, path)
