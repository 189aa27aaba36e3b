"""GAF's attention over one clip of a recognition model (``gaf_i3d``, ``gaf_tsm_r50``; GAF Fig. 6,
on UCF101): the backbone's last map averaged over space, the two attention-enhanced maps (action
``lambda`` and non-action ``1 - lambda`` weighting, eq. 10's form) and lambda over the clip.

The clip is the checkpoint's first test view of the video (its test preprocessing); the map's step
``t`` of ``T'`` is drawn at the clip frame position ``(t + 0.5) T / T'``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from vidaction.config import ConfigError
from vidaction.data.build import load_test_clip
from vidaction.engine.tasks.recognition import load_trained_model
from vidaction.models.generative.gaf_classifier import GAFClassifier


@dataclass
class ClipAttention:
    """``positions`` ``(N,)`` clip frames of the map's steps; ``original`` / ``action`` /
    ``nonaction`` ``(C, N)``; ``lambdas`` ``(N,)``; the top class and its softmax score."""

    video: str
    positions: np.ndarray
    original: np.ndarray
    action: np.ndarray
    nonaction: np.ndarray
    lambdas: np.ndarray
    num_frames: int
    predicted: str
    score: float


@torch.no_grad()
def clip_attention(checkpoint: str | Path, video: str | Path, device: str = "cpu") -> ClipAttention:
    """The maps of the module docstring for one video."""
    model, cfg, class_names = load_trained_model(checkpoint)
    if not isinstance(model, GAFClassifier):
        raise ConfigError(f"{checkpoint}: a {type(model).__name__} has no GAF attention: train model.name=gaf_i3d "
                          "or gaf_tsm_r50 (recipe.name=gaf), or a detector with model.attention=gaf")
    clip = load_test_clip(cfg.data, str(video))[:1].to(device)
    model = model.to(device).eval()
    features = model.forward_features(clip)
    original, action, nonaction, lambdas = model.enhanced_maps(features)
    probabilities = model.last_output.scores.softmax(dim=1)[0]
    top = int(probabilities.argmax())
    steps, frames = original.shape[2], clip.shape[2]
    return ClipAttention(str(video), (np.arange(steps) + 0.5) * frames / steps, original[0].cpu().numpy(),
                         action[0].cpu().numpy(), nonaction[0].cpu().numpy(), lambdas[0].cpu().numpy(), frames,
                         class_names[top] if top < len(class_names) else str(top), float(probabilities[top]))
