"""Detections on a time axis (GAF Fig. 5): ground-truth segments against predicted ones, one lane per class.

Each class present in either set gets a lane; ground truth is drawn as a full-height grey bar with a
black edge, predictions as coloured bars in the lower part of the lane whose opacity is the score
(scores rescaled to the shown predictions' maximum, so the best detection is opaque), optionally
with a curve over the timeline (e.g. GAF's attention lambda) in a strip below the lanes.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import Rectangle

from vidaction.viz.figures import save_figure


def plot_timeline(duration: float, class_names: Sequence[str], predictions: Sequence[tuple[float, float, int, float]],
                  path: str | Path, ground_truth: Sequence[tuple[float, float, int]] = (),
                  curve: tuple[np.ndarray, np.ndarray] | None = None, curve_label: str = "",
                  title: str = "", min_score: float = 0.0) -> Path:
    """Write the timeline PNG.

    Args:
        duration: seconds shown, ``[0, duration]``.
        class_names: names of the class indices.
        predictions: ``(start, end, class, score)`` in seconds; those below ``min_score`` are left out.
        ground_truth: ``(start, end, class)`` in seconds.
        curve: ``(times (N,), values (N,))`` drawn under the lanes (values in [0, 1]).
        curve_label: the curve's y label.
    """
    shown = [p for p in predictions if p[3] >= min_score]
    classes = sorted({int(p[2]) for p in shown} | {int(g[2]) for g in ground_truth})
    lanes = {c: i for i, c in enumerate(classes)}
    rows = max(len(classes), 1)
    heights = [rows, 1] if curve is not None else [rows]
    fig, axes = plt.subplots(len(heights), 1, figsize=(12, 0.7 * rows + (2.0 if curve is not None else 1.2)),
                             sharex=True, gridspec_kw={"height_ratios": heights}, squeeze=False)
    ax = axes[0, 0]
    best = max((p[3] for p in shown), default=1.0) or 1.0
    for start, end, label in ground_truth:
        lane = lanes[int(label)]
        ax.add_patch(Rectangle((start, lane + 0.05), end - start, 0.9, facecolor="0.8", edgecolor="black", lw=0.8))
    for start, end, label, score in sorted(shown, key=lambda p: p[3]):
        lane = lanes[int(label)]
        ax.add_patch(Rectangle((start, lane + 0.1), end - start, 0.45, facecolor=f"C{int(label) % 10}",
                               alpha=float(np.clip(score / best, 0.08, 1.0)), lw=0))
    ax.set_ylim(0, rows)
    ax.set_yticks([i + 0.5 for i in range(len(classes))], [class_names[c] for c in classes])
    ax.set_xlim(0, duration)
    ax.set_title(title or "ground truth (grey) and detections (colour, opacity = score)")
    if curve is not None:
        times, values = curve
        axes[1, 0].plot(times, values, color="C3")
        axes[1, 0].set(ylim=(-0.05, 1.05), ylabel=curve_label)
        for start, end, _ in ground_truth:
            axes[1, 0].axvspan(start, end, color="0.85", lw=0)
        axes[1, 0].grid(alpha=0.3)
    axes[-1, 0].set_xlabel("time (s)")
    return save_figure(fig, path)
