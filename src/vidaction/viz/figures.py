"""Writing matplotlib figures (Agg backend: no display needed)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def save_figure(fig: "plt.Figure", path: str | Path, dpi: int = 100) -> Path:
    """Lay out, write to ``path`` (creating folders) and close ``fig``."""
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return path


def save_image_grid(fig: "plt.Figure", axes, path: str | Path, title: str = "") -> Path:
    """Hide the ticks of a grid of image ``axes``, add the ``title`` and write ``fig`` (:func:`save_figure`)."""
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    if title:
        fig.suptitle(title, fontsize=9)
    return save_figure(fig, path)
