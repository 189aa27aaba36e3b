"""HCML's training-time network (Yang et al., ECCV 2020, Sec. 3, Fig. 1b): a backbone with prime
motion blocks plus the side branches that supervise them, which :meth:`HCMLNet.deploy` drops.

Levels. The backbone's ``motion_levels`` (res2, res3, res4 by default) carry motion features
``P^0, P^1, P^2`` in that order. ``P^0`` is supervised by frame reconstruction (Sec. 3.3): a
:class:`FlowEstimator` reads ``P^0`` of adjacent frames, its flow warps the input frames
(``L_reconstruct``). Each ``P^l``, ``l > 0``, is supervised contrastively (Sec. 3.2): a
:class:`MotionPredictor` on ``[P^l_t, pool(P^{l-1})_t]`` predicts ``P^{l-1}_{t+delta}``
(``L_contrastive^l``), matching eq. 5's ``gamma^1, gamma^2`` for two contrastive levels.
Decisions where the paper is silent: the flow estimator reads the motion features ``P^0`` (the
representation being trained) rather than the raw res2 features; predictors have a hidden layer as
wide as their input and predict ``steps=2`` future steps.

Shapes: ``forward(x: (N, 3, T, H, W))`` returns scores ``(N, K)``; with ``return_motion=True`` an
:class:`HCMLOutput` with the flow ``(N, 2, T-1, h, w)`` at ``P^0``'s resolution and, per contrastive
level, the predictions ``(N, steps, C_{l-1}, T_l, H_l, W_l)`` and pooled targets. All side-branch
work happens inside ``forward`` so DistributedDataParallel sees every parameter it trains.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from torch import Tensor, nn

from vidaction.models.motion.flow import FlowEstimator
from vidaction.models.motion.predictor import MotionPrediction, MotionPredictor


class HCMLOutput(NamedTuple):
    """Scores and what the self-supervised losses need."""

    scores: Tensor
    flow: Tensor
    predictions: dict[str, MotionPrediction]


class ProgressiveStage(NamedTuple):
    """One step of the progressive self-supervised phase (Sec. 3.2, "Progressive Training").

    ``loss`` names the term it minimises (a key of :func:`vidaction.losses.hcml.hcml_losses`'s
    terms); ``trainable`` are the modules it updates; every other parameter of the network is frozen
    (no gradient, BatchNorm statistics fixed).
    """

    name: str
    level: str
    loss: str
    trainable: list[nn.Module]


class HCMLNet(nn.Module):
    """``backbone`` (built with ``motion="pmb"``) + flow estimator + one predictor per level > 0.

    ``flow_hidden`` overrides the flow estimator's layer widths (:class:`FlowEstimator`'s default:
    PWC-Net's halved); the estimator is a training-time cost only, dropped by :meth:`deploy`.
    """

    def __init__(self, backbone: nn.Module, steps: int = 2, flow_hidden: Sequence[int] | None = None) -> None:
        super().__init__()
        levels = getattr(backbone, "motion_levels", ())
        if len(levels) < 1:
            raise ValueError("HCMLNet needs a backbone built with motion='pmb' (it has no motion levels)")
        frames = {info["name"]: -(-backbone.num_frames // info["reduction_t"]) for info in backbone.feature_info}
        for level in levels[1:]:
            if frames[level] <= steps:
                raise ValueError(f"contrastive level {level} has {frames[level]} time steps for a "
                                 f"{backbone.num_frames}-frame clip, but predicting {steps} steps ahead needs more "
                                 f"than {steps}: use longer clips or fewer motion levels")
        self.backbone = backbone
        self.levels = tuple(levels)
        channels = {name: block.motion_channels for name, block in backbone.motion_blocks().items()}
        self.flow = FlowEstimator(channels[levels[0]], *([tuple(flow_hidden)] if flow_hidden else []))
        self.predictors = nn.ModuleDict({
            current: MotionPredictor(channels[current], channels[previous], channels[current] + channels[previous],
                                     channels[previous], steps)
            for previous, current in zip(levels, levels[1:])
        })

    def forward(self, x: Tensor, return_motion: bool = False) -> Tensor | HCMLOutput:
        scores = self.backbone(x)
        if not return_motion:
            return scores
        motion = self.backbone.motion_features()
        predictions = {current: self.predictors[current](motion[current], motion[previous])
                       for previous, current in zip(self.levels, self.levels[1:])}
        return HCMLOutput(scores, self.flow(motion[self.levels[0]]), predictions)

    def progressive_stages(self) -> list[ProgressiveStage]:
        """The bottom-up schedule of Sec. 3.2: level 0 learns ``P^0`` by frame reconstruction (the
        backbone through the first motion level, and the flow estimator); level ``l > 0`` learns
        ``P^l`` by its contrastive loss with everything up to level ``l - 1`` frozen, training the
        backbone stages between the two levels (with level ``l``'s prime motion block) and level
        ``l``'s predictor. Stages above level ``l`` and the classifier wait for the joint phase."""
        stages = [ProgressiveStage("level0", self.levels[0], "reconstruct",
                                   self.backbone.modules_through(self.levels[0]) + [self.flow])]
        for index, (previous, current) in enumerate(zip(self.levels, self.levels[1:]), 1):
            below = len(self.backbone.modules_through(previous))
            stages.append(ProgressiveStage(f"level{index}", current, f"contrastive_{current}",
                                           self.backbone.modules_through(current)[below:] + [self.predictors[current]]))
        return stages

    def deploy(self) -> nn.Module:
        """The backbone with its prime motion blocks, without the training-only side branches."""
        return self.backbone
