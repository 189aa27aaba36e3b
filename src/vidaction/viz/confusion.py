"""Confusion-matrix heat map."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from vidaction.viz.figures import save_figure


def plot_confusion_matrix(cm: np.ndarray, class_names: list[str], path: str | Path, normalize: bool = True) -> Path:
    """Rows = true class, columns = predicted; rows normalised to recall when ``normalize``."""
    cm = np.asarray(cm, dtype=np.float64)
    shown = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1) if normalize else cm
    k = len(class_names)
    side = min(max(4.0, 0.35 * k + 2), 30.0)
    fig, ax = plt.subplots(figsize=(side, side))
    image = ax.imshow(shown, cmap="Blues", vmin=0, vmax=1 if normalize else None)
    if k <= 40:
        ax.set_xticks(range(k), class_names, rotation=90, fontsize=8)
        ax.set_yticks(range(k), class_names, fontsize=8)
        if k <= 20:
            for i in range(k):
                for j in range(k):
                    ax.text(j, i, f"{shown[i, j]:.2f}" if normalize else int(shown[i, j]), ha="center",
                            va="center", fontsize=7, color="white" if shown[i, j] > 0.5 * shown.max() else "black")
    ax.set(xlabel="predicted", ylabel="true", title="confusion matrix" + (" (row-normalised)" if normalize else ""))
    fig.colorbar(image, ax=ax, fraction=0.046)
    return save_figure(fig, path)
