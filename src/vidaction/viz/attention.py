"""Spatio-temporal attention overlays (W3 Fig. 3): evenly sampled frames with their masks."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F

from vidaction.viz.figures import save_image_grid


def overlay_grid(frames: np.ndarray, masks: dict[str, torch.Tensor], path: str | Path, title: str = "",
                 max_frames: int = 8) -> Path:
    """Rows: the frames, then one row per stage with its mask upsampled and overlaid.

    ``frames``: ``(T, H, W, 3)`` in [0, 1]; ``masks``: ``{stage: (1, 1, T_j, h, w)}`` in [0, 1], where
    a 3D CNN's stage may have fewer time steps ``T_j`` than frames: frame ``i`` shows step
    ``i * T_j // T``, the step whose receptive field it falls in.
    """
    t = frames.shape[0]
    columns = np.unique(np.linspace(0, t - 1, min(max_frames, t)).round().astype(int))
    rows = 1 + len(masks)
    fig, axes = plt.subplots(rows, len(columns), figsize=(1.6 * len(columns), 1.6 * rows), squeeze=False)
    for c, index in enumerate(columns):
        axes[0, c].imshow(frames[index])
        axes[0, c].set_title(f"frame {index}", fontsize=7)
        for r, (stage, mask) in enumerate(masks.items(), 1):
            step = index * mask.shape[2] // t
            up = F.interpolate(mask[0, :, step:step + 1].float(), size=frames.shape[1:3], mode="bilinear",
                               align_corners=False)[0, 0].numpy()
            axes[r, c].imshow(frames[index])
            axes[r, c].imshow(up, cmap="jet", alpha=0.45, vmin=0.0, vmax=1.0)
            if c == 0:
                axes[r, c].set_ylabel(stage, fontsize=7)
    return save_image_grid(fig, axes, path, title)
