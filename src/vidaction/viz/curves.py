"""Training curves: loss and accuracy per epoch, one or several runs on one figure."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt

from vidaction.viz.figures import save_figure


def plot_curves(histories: dict[str, list[dict]], path: str | Path) -> Path:
    """Two panels (loss; accuracy in %) with train and validation curves of every run."""
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 4))
    for index, (name, history) in enumerate(histories.items()):
        colour = f"C{index}"
        epochs = [r["epoch"] for r in history]
        ax_loss.plot(epochs, [r["train_loss"] for r in history], color=colour, label=f"{name} train")
        if all("train_acc" in r for r in history):
            ax_acc.plot(epochs, [100 * r["train_acc"] for r in history], color=colour, label=f"{name} train")
        val = [r for r in history if "val_loss" in r]
        if val:
            ax_loss.plot([r["epoch"] for r in val], [r["val_loss"] for r in val], "--", color=colour,
                         label=f"{name} val")
        val = [r for r in history if "val_top1" in r]
        if val:
            ax_acc.plot([r["epoch"] for r in val], [100 * r["val_top1"] for r in val], "--", color=colour,
                        label=f"{name} val top-1")
    ax_loss.set(xlabel="epoch", ylabel="training objective", title="loss")
    ax_acc.set(xlabel="epoch", ylabel="accuracy (%)", title="accuracy", ylim=(0, 100))
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    return save_figure(fig, path)


def plot_training_curves(history: list[dict], path: str | Path) -> Path:
    """Curves of a single run."""
    return plot_curves({"run": history}, path)
