"""AFSD's boundary-contrastive augmentation (Lin et al., CVPR 2021, Sec. 3.4; GAF trains with it too).

A stretch of background is pasted into an action instance, so that the instance's two halves, now
separated by background, teach the boundary features that an action's end and the start of its
continuation look alike and a background start does not (the triplet of
:func:`vidaction.losses.detection.boundary_contrastive_loss`).

The rules (AFSD ``common/thumos_dataset.py`` ``THUMOS_Dataset.augment_``, called with one try), in
integer steps of the window, ``L`` the paste length:

- ``L`` is the ceiling of the shortest training target of the video over all its windows (AFSD's
  ``min_anno_dict``), at least 1.
- The instance is drawn among the window's targets longer than ``2 L``; the split point
  ``t = ceil(start) + u`` with ``u`` drawn from ``floor(L) .. ceil(length - L) - 1``.
- The background stretch is drawn among the background gaps longer than ``L`` steps (whole steps
  ``ceil(gap start) .. floor(gap end)``), starting at ``b`` drawn from ``gap start .. gap end - L - 1``.
- The content between the split point and the stretch moves by ``L`` towards the stretch, which
  fills ``[t, t + L)`` (stretch after the instance) or ``[t - L, t)`` (before it). The three
  proposals are ``[start, t], [t + L, end + L], [t + 1, t + L - 1]`` in the first case and
  ``[start - L, t - L], [t, end], [t - L + 1, t - 1]`` in the second: the action before the paste, the
  action after it, the pasted background.
- No instance longer than ``2 L`` or no such gap: no augmentation for that window (AFSD's flag).

Decisions: AFSD takes the gaps between consecutive annotation bounds and the window ends
``0, clip_length - 1`` and drops those equal to an annotation, which with overlapping or nested
instances can pick a stretch inside an action; the gaps here are the complement of the union of
the instances, inside the window's valid (unpadded) steps ``[0, valid - 1]``.

Shapes: ``data`` is ``(C, T, ...)`` (frames ``(C, T, H, W)`` or features ``(C, T)``), ``segments``
``(K, 2)`` in steps of the window; the augmented copy has ``data``'s shape, the proposals ``(3, 2)``.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor


class BoundaryAugmentation(NamedTuple):
    """An augmented window ``(C, T, ...)`` and its proposals ``(3, 2)`` float32 in steps."""

    input: Tensor
    proposals: Tensor


def paste_length(lengths: np.ndarray) -> int:
    """``L`` of the module docstring for a video whose training targets have ``lengths`` steps."""
    return max(math.ceil(float(np.min(lengths))), 1) if len(lengths) else 1


def background_gaps(segments: np.ndarray, valid: int) -> list[tuple[int, int]]:
    """Whole-step gaps ``(first, last)`` of ``[0, valid - 1]`` outside every segment ``(K, 2)``."""
    gaps, cursor = [], 0.0
    for start, end in sorted((float(s), float(e)) for s, e in segments):
        if start > cursor:
            gaps.append((math.ceil(cursor), math.floor(min(start, valid - 1))))
        cursor = max(cursor, end)
    if cursor < valid - 1:
        gaps.append((math.ceil(cursor), valid - 1))
    return [(first, last) for first, last in gaps if last > first]


def paste_background(data: Tensor, segments: np.ndarray, valid: int, length: int,
                     rng: np.random.Generator) -> BoundaryAugmentation | None:
    """The augmented window of the module docstring, or ``None`` when the window has no instance
    longer than ``2 length`` or no background gap longer than ``length`` in its ``valid`` steps."""
    candidates = [(float(s), float(e)) for s, e in segments if e - s > 2 * length]
    gaps = [(first, last) for first, last in background_gaps(segments, valid) if last - first > length]
    if not candidates or not gaps:
        return None
    start, end = candidates[rng.integers(len(candidates))]
    split = math.ceil(start) + int(rng.integers(math.floor(length), math.ceil(end - start - length)))
    first, last = gaps[rng.integers(len(gaps))]
    paste = first + int(rng.integers(last - first - length))
    out = data.clone()
    if paste >= end:
        out[:, split:split + length] = data[:, paste:paste + length]
        out[:, split + length:paste + length] = data[:, split:paste]
        proposals = [[start, split], [split + length, end + length], [split + 1, split + length - 1]]
    else:
        out[:, paste:split - length] = data[:, paste + length:split]
        out[:, split - length:split] = data[:, paste:paste + length]
        proposals = [[start - length, split - length], [split, end], [split - length + 1, split - 1]]
    return BoundaryAugmentation(out, torch.tensor(proposals, dtype=torch.float32))
