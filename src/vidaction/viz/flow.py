"""Optical flow in the standard colour-wheel coding (Baker et al., "A Database and Evaluation
Methodology for Optical Flow", IJCV 2011; the Middlebury ``flowToColor``), as in HCML's Fig. 3.

Hue is the flow direction and saturation its magnitude relative to the largest magnitude shown
(``max_magnitude``, by default the flow's own maximum): zero flow is white, a flow to the right
red, down (positive y) orange-yellow, left green-cyan, up blue-violet. Flow is ``(2, H, W)`` in pixels,
channel 0 horizontal, channel 1 vertical, as everywhere in :mod:`vidaction.models.motion.flow`.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from vidaction.viz.figures import save_image_grid

# Transition lengths of the Middlebury wheel: red-yellow, yellow-green, green-cyan, cyan-blue,
# blue-magenta, magenta-red (55 hues in all).
WHEEL_SEGMENTS = (15, 6, 4, 11, 13, 6)


def colour_wheel() -> np.ndarray:
    """``(55, 3)`` RGB hues in [0, 1] going once round the wheel."""
    ry, yg, gc, cb, bm, mr = WHEEL_SEGMENTS
    ramps = [
        (np.ones(ry), np.arange(ry) / ry, np.zeros(ry)),
        (1 - np.arange(yg) / yg, np.ones(yg), np.zeros(yg)),
        (np.zeros(gc), np.ones(gc), np.arange(gc) / gc),
        (np.zeros(cb), 1 - np.arange(cb) / cb, np.ones(cb)),
        (np.arange(bm) / bm, np.zeros(bm), np.ones(bm)),
        (np.ones(mr), np.zeros(mr), 1 - np.arange(mr) / mr),
    ]
    return np.concatenate([np.stack(ramp, axis=1) for ramp in ramps])


def flow_to_rgb(flow: np.ndarray, max_magnitude: float | None = None) -> np.ndarray:
    """``(2, H, W)`` flow -> ``(H, W, 3)`` RGB in [0, 1]."""
    u, v = np.asarray(flow[0], dtype=np.float64), np.asarray(flow[1], dtype=np.float64)
    magnitude = np.hypot(u, v)
    scale = max_magnitude if max_magnitude is not None else magnitude.max()
    radius = np.clip(magnitude / scale, 0.0, 1.0) if scale > 0 else np.zeros_like(magnitude)
    wheel = colour_wheel()
    position = (np.arctan2(-v, -u) / np.pi + 1) / 2 * (len(wheel) - 1)
    low = np.floor(position).astype(int)
    high = (low + 1) % len(wheel)
    blend = (position - low)[..., None]
    hue = (1 - blend) * wheel[low] + blend * wheel[high]
    return 1 - radius[..., None] * (1 - hue)


def flow_grid(frames: np.ndarray, flows: dict[str, np.ndarray], path: str | Path, title: str = "",
              strides: dict[str, int] | None = None) -> Path:
    """Rows: the frames ``(T, H, W, 3)`` in [0, 1], then one row per level of colour-coded flows
    ``{level: (T', 2, h, w)}``. A level of temporal stride ``r`` (``strides``, default 1) pairs frames
    ``r`` apart, so its pair ``t``, frames ``(t r, (t + 1) r)``, stands in column ``t r``; each level
    is scaled by its own largest magnitude (pixels of its own map), printed in its row label."""
    strides = strides or {}
    columns = max(len(frames), *(len(f) * strides.get(level, 1) for level, f in flows.items()))
    fig, axes = plt.subplots(1 + len(flows), columns, figsize=(1.6 * columns, 1.6 * (1 + len(flows))), squeeze=False)
    for c in range(columns):
        if c < len(frames):
            axes[0, c].imshow(frames[c])
            axes[0, c].set_title(f"frame {c}", fontsize=7)
    for r, (level, flow) in enumerate(flows.items(), 1):
        stride = strides.get(level, 1)
        peak = float(np.hypot(flow[:, 0], flow[:, 1]).max())
        for t in range(len(flow)):
            axes[r, t * stride].imshow(flow_to_rgb(flow[t], peak))
            if stride > 1:
                axes[r, t * stride].set_title(f"{t * stride}->{(t + 1) * stride}", fontsize=6)
        axes[r, 0].set_ylabel(f"{level}\nmax {peak:.2f} px", fontsize=7)
    return save_image_grid(fig, axes, path, title)
