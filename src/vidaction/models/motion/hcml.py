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

``flow_levels`` adds flow estimators on higher levels too, as in HCML's analysis of "preliminary"
supervision per level (Table 1) and its Fig. 3 (flow estimated at levels 1, 2, 3): the estimator of
a level whose maps have temporal stride ``r`` reads its adjacent steps and its flow warps the frames
``r`` apart (``frames[:, :, ::r]``). Their reconstruction terms (``reconstruct_<level>``) join the
joint loss with the same weight; the progressive stages train only level 0's.

Shapes: ``forward(x: (N, 3, T, H, W))`` returns scores ``(N, K)``; with ``return_motion=True`` an
:class:`HCMLOutput` with, per flow level, the flow ``(N, 2, T_l - 1, h_l, w_l)`` at that level's
resolution and, per contrastive level, the predictions ``(N, steps, C_{l-1}, T_l, H_l, W_l)`` and
pooled targets. All side-branch work happens inside ``forward`` so DistributedDataParallel sees
every parameter it trains.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from torch import Tensor, nn

from vidaction.models.motion.flow import FlowEstimator
from vidaction.models.motion.predictor import MotionPrediction, MotionPredictor


class HCMLOutput(NamedTuple):
    """Scores and what the self-supervised losses need: ``flows`` per flow level (the first motion
    level first) with each level's temporal stride in ``flow_strides``, and the predictions."""

    scores: Tensor
    flows: dict[str, Tensor]
    flow_strides: dict[str, int]
    predictions: dict[str, MotionPrediction]

    @property
    def flow(self) -> Tensor:
        """The flow of the first motion level (``P^0``'s), the one eq. 3 reconstructs frames with."""
        return next(iter(self.flows.values()))


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

    ``flow_hidden`` overrides the flow estimators' layer widths (:class:`FlowEstimator`'s default:
    PWC-Net's halved); ``flow_levels`` are the levels with a flow estimator (default: the first);
    the estimators are a training-time cost only, dropped by :meth:`deploy`.
    """

    def __init__(self, backbone: nn.Module, steps: int = 2, flow_hidden: Sequence[int] | None = None,
                 flow_levels: Sequence[str] | None = None) -> None:
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
        flow_levels = tuple(flow_levels or (levels[0],))
        unknown = [level for level in flow_levels if level not in levels]
        if unknown or flow_levels[0] != levels[0]:
            raise ValueError(f"flow_levels {list(flow_levels)} must start with the first motion level {levels[0]} and "
                             f"name motion levels only ({list(levels)})")
        short = [level for level in flow_levels if frames[level] < 2]
        if short:
            raise ValueError(f"flow level(s) {short} have fewer than 2 time steps: no adjacent pair to estimate "
                             "flow on")
        self.backbone = backbone
        self.levels = tuple(levels)
        channels = {name: block.motion_channels for name, block in backbone.motion_blocks().items()}
        self.flow_strides = {info["name"]: info["reduction_t"] for info in backbone.feature_info
                             if info["name"] in flow_levels}
        hidden = [tuple(flow_hidden)] if flow_hidden else []
        self.flows = nn.ModuleDict({level: FlowEstimator(channels[level], *hidden) for level in flow_levels})
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
        flows = {level: estimator(motion[level]) for level, estimator in self.flows.items()}
        return HCMLOutput(scores, flows, {level: self.flow_strides[level] for level in flows}, predictions)

    def progressive_stages(self) -> list[ProgressiveStage]:
        """The bottom-up schedule of Sec. 3.2: level 0 learns ``P^0`` by frame reconstruction (the
        backbone through the first motion level, and the flow estimator); level ``l > 0`` learns
        ``P^l`` by its contrastive loss with everything up to level ``l - 1`` frozen, training the
        backbone stages between the two levels (with level ``l``'s prime motion block) and level
        ``l``'s predictor. Stages above level ``l`` and the classifier wait for the joint phase."""
        stages = [ProgressiveStage("level0", self.levels[0], "reconstruct",
                                   self.backbone.modules_through(self.levels[0]) + [self.flows[self.levels[0]]])]
        for index, (previous, current) in enumerate(zip(self.levels, self.levels[1:]), 1):
            below = len(self.backbone.modules_through(previous))
            stages.append(ProgressiveStage(f"level{index}", current, f"contrastive_{current}",
                                           self.backbone.modules_through(current)[below:] + [self.predictors[current]]))
        return stages

    def deploy(self) -> nn.Module:
        """The backbone with its prime motion blocks, without the training-only side branches."""
        return self.backbone
