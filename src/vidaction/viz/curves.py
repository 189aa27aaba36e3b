"""Training curves: loss and a validation metric per epoch, one or several runs on one figure."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt

from vidaction.viz.figures import save_figure


def plot_curves(histories: dict[str, list[dict]], path: str | Path, metric: str = "val_top1",
                metric_label: str = "val top-1") -> Path:
    """Two panels: the training objective (train and validation), and accuracy or ``metric`` in %.

    Recognition runs show training accuracy beside validation ``metric``; runs whose history has no
    ``train_acc`` (self-supervised stages, detection) show the metric alone.
    """
    fig, (ax_loss, ax_metric) = plt.subplots(1, 2, figsize=(10, 4))
    for index, (name, history) in enumerate(histories.items()):
        colour = f"C{index}"
        epochs = [r["epoch"] for r in history]
        ax_loss.plot(epochs, [r["train_loss"] for r in history], color=colour, label=f"{name} train")
        if all("train_acc" in r for r in history):
            ax_metric.plot(epochs, [100 * r["train_acc"] for r in history], color=colour, label=f"{name} train")
        val = [r for r in history if "val_loss" in r]
        if val:
            ax_loss.plot([r["epoch"] for r in val], [r["val_loss"] for r in val], "--", color=colour,
                         label=f"{name} val")
        val = [r for r in history if metric in r]
        if val:
            ax_metric.plot([r["epoch"] for r in val], [100 * r[metric] for r in val], "--", color=colour,
                           label=f"{name} {metric_label}")
    ax_loss.set(xlabel="epoch", ylabel="training objective", title="loss")
    ax_metric.set(xlabel="epoch", ylabel="%", title=metric_label, ylim=(0, 100))
    for ax in (ax_loss, ax_metric):
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    return save_figure(fig, path)


def plot_training_curves(history: list[dict], path: str | Path, metric: str = "val_top1",
                         metric_label: str = "val top-1") -> Path:
    """Curves of a single run."""
    return plot_curves({"run": history}, path, metric, metric_label)
