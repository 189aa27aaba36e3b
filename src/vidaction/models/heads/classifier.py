"""The classification head shared by the video backbones: dropout, one linear layer for one or
several heads, and the average consensus of per-frame scores.

The last stage ``(N, C, T', H', W')`` is averaged over space, each of its ``T'`` frames (TSN/TSM)
or time steps (I3D, R2D, R(2+1)D) is classified, ``(N, T', K)`` (:meth:`VideoClassifier.frame_logits`),
and the scores are averaged over time, ``(N, K)`` (:func:`average_consensus`): TSN's average
consensus (Wang et al., ECCV 2016, Sec. 3.1) and W3 Sec. 3.4's "video-level prediction is obtained
by averaging the frame-level predictions". The classifier being linear, this equals global
average pooling, dropout and fc (MMAction2's ``I3DHead``, SlowFast's head) at test time.

Several heads (``num_classes=(125, 352)`` for EPIC-Kitchens' verbs and nouns) share one ``fc``
whose ``sum K_h`` scores sit side by side in head order (see :mod:`vidaction.data.labels`), so
checkpoints keep the names ``fc.weight`` / ``fc.bias`` of torchvision and the official TSM code.
"""

from __future__ import annotations

from torch import Tensor, nn

NumClasses = int | tuple[int, ...]


def head_sizes_of(num_classes: NumClasses) -> tuple[int, ...]:
    """``(K,)`` for one head, ``(K_1, .., K_h)`` for several."""
    return tuple(num_classes) if isinstance(num_classes, (tuple, list)) else (num_classes,)


def average_consensus(frame_scores: Tensor) -> Tensor:
    """``(N, T', K) -> (N, K)``: the mean of the per-frame scores."""
    return frame_scores.mean(dim=1)


class VideoClassifier(nn.Module):
    """Base of the video backbones: ``forward(x) = forward_head(forward_features(x))``.

    A subclass defines ``forward_features`` (a dict of stage outputs ``(N, C, T, H, W)`` whose last
    is named ``stage_names[-1]``) and builds its head with :meth:`add_classifier` (``dropout`` and
    ``fc``, as attributes of the model itself) and :meth:`init_classifier`. Classifier
    initialisation: ``N(0, classifier_init_std)`` weights, zero bias; 0.01 as MMAction2's
    ``I3DHead`` and SlowFast, TSN/TSM use 0.001.
    """

    classifier_init_std = 0.01
    stage_names: list[str]

    def add_classifier(self, num_features: int, num_classes: NumClasses, dropout: float) -> None:
        """``dropout`` and ``fc: num_features -> sum K_h`` (PyTorch's init until :meth:`init_classifier`)."""
        self.num_features = num_features
        self.dropout = nn.Dropout(dropout)
        self.head_sizes = head_sizes_of(num_classes)
        self.fc = nn.Linear(num_features, sum(self.head_sizes))

    def init_classifier(self) -> None:
        nn.init.normal_(self.fc.weight, 0.0, self.classifier_init_std)
        nn.init.zeros_(self.fc.bias)

    def frame_logits(self, features: dict[str, Tensor]) -> Tensor:
        """Per-frame (per-time-step) class scores ``(N, T', K)`` from the last stage ``(N, C, T', H, W)``."""
        pooled = features[self.stage_names[-1]].mean(dim=(3, 4)).transpose(1, 2)
        return self.fc(self.dropout(pooled))

    def forward_head(self, features: dict[str, Tensor]) -> Tensor:
        """Average consensus of the per-frame logits: ``(N, K)``."""
        return average_consensus(self.frame_logits(features))

    def reset_classifier(self, num_classes: NumClasses) -> None:
        """A new, freshly initialised classifier for ``num_classes`` (one size or one per head)."""
        weight = self.fc.weight
        self.head_sizes = head_sizes_of(num_classes)
        self.fc = nn.Linear(self.num_features, sum(self.head_sizes))
        self.init_classifier()
        self.fc.to(weight)

    def forward(self, x: Tensor, return_features: bool = False) -> Tensor | tuple[Tensor, dict[str, Tensor]]:
        """Scores ``(N, K)``; with ``return_features`` also the stage outputs (distillation, HCML's levels)."""
        features = self.forward_features(x)
        scores = self.forward_head(features)
        return (scores, features) if return_features else scores
