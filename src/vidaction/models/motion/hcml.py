"""HCML's training-time network (Yang et al., ECCV 2020, Sec. 3, Fig. 1b): a backbone with prime
motion blocks plus the side branches that supervise them, which :meth:`HCMLNet.deploy` drops.

Levels. The backbone's ``motion_levels`` (res2, res3, res4 by default) carry motion features
``P^0, P^1, P^2`` in that order. ``P^0`` is supervised by frame reconstruction (Sec. 3.3): a
:class:`FlowEstimator` reads ``P^0`` of adjacent frames, its flow warps the input frames
(``L_reconstruct``). Each ``P^l``, ``l > 0``, is supervised contrastively (Sec. 3.2): a
:class:`MotionPredictor` on ``[P^l_t, P^{l-1}_{r t}]`` predicts the future of the lower level's
sequence, ``P^{l-1}_{r t + delta}`` (``L_contrastive^l``), matching eq. 5's ``gamma^1, gamma^2`` for
two contrastive levels; ``r`` is level ``l``'s temporal stride over level ``l - 1``.
By default each predictor predicts every future step of the lower level's sequence
(``steps = T_{l-1} - 1``, Sec. 3.2's ``P^{l-1}_{>t}``); ``steps`` caps the horizon.
Decisions: docs/papers/hcml.md#flow-estimator, #motion-predictor.

Progressive training (Sec. 3.2): :meth:`HCMLNet.progressive_stages`; level ``l + 1``'s stage trains
``g^l``. Decisions: docs/papers/hcml.md#progressive-training.

``flow_levels`` adds flow estimators on higher levels too, as in HCML's analysis of "preliminary"
supervision per level (Table 1) and its Fig. 3 (flow estimated at levels 1, 2, 3): the estimator of
a level whose maps have temporal stride ``r`` reads its adjacent steps and its flow warps the frames
``r`` apart (``frames[:, :, ::r]``). Their reconstruction terms (``reconstruct_<level>``) join the
joint loss with the same weight; the progressive stages train only level 0's.

Shapes: ``forward(x: (N, 3, T, H, W))`` returns scores ``(N, K)``; with ``return_motion=True`` an
:class:`HCMLOutput` with, per flow level, the flow ``(N, 2, T_l - 1, h_l, w_l)`` at that level's
resolution and, per contrastive level, the predictions ``(N, steps_l, C_{l-1}, T_l, H_l, W_l)`` and
the ground truth ``(N, C_{l-1}, T_{l-1}, H_l, W_l)`` (:class:`MotionPrediction`). All side-branch
work happens inside ``forward`` so DistributedDataParallel sees every parameter it trains.

The registered builder :func:`hcml` (``create_model("hcml", num_classes, num_frames,
backbone="r2d_r50", backbone_options={"motion": "pmb"})``) wraps any registered backbone by name.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from torch import Tensor, nn

from vidaction.models.motion.flow import FlowEstimator
from vidaction.models.motion.predictor import MotionPrediction, MotionPredictor
from vidaction.models.registry import create_model, register_model


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

    ``steps`` is the number of future steps each predictor predicts (``None``: every future step of
    the lower level's sequence, ``T_{l-1} - 1`` for the clip length the backbone is built for);
    ``flow_hidden`` overrides the flow estimators' layer widths (:class:`FlowEstimator`'s default:
    PWC-Net's halved); ``flow_levels`` are the levels with a flow estimator (default: the first);
    the estimators are a training-time cost only, dropped by :meth:`deploy`.

    Attributes:
        steps: ``{level: steps}`` of each contrastive level's predictor.
    """

    def __init__(self, backbone: nn.Module, steps: int | None = None, flow_hidden: Sequence[int] | None = None,
                 flow_levels: Sequence[str] | None = None) -> None:
        super().__init__()
        levels = getattr(backbone, "motion_levels", ())
        if len(levels) < 1:
            raise ValueError("HCMLNet needs a backbone built with motion='pmb' (it has no motion levels)")
        if steps is not None and steps < 1:
            raise ValueError(f"steps must be positive (or None for every future step), got {steps}")
        info = {entry["name"]: entry for entry in backbone.feature_info}
        frames = {name: -(-backbone.num_frames // entry["reduction_t"]) for name, entry in info.items()}
        self.steps = {current: steps or frames[previous] - 1 for previous, current in zip(levels, levels[1:])}
        for previous, current in zip(levels, levels[1:]):
            if self.steps[current] > frames[previous] - 1:
                raise ValueError(f"contrastive level {current} predicts {previous}, which has {frames[previous]} time "
                                 f"steps for a {backbone.num_frames}-frame clip: at most {frames[previous] - 1} steps "
                                 f"ahead, got steps={steps}")
            if info[current]["reduction_t"] % info[previous]["reduction_t"]:
                raise ValueError(f"the temporal stride of {current} ({info[current]['reduction_t']}) is not a multiple "
                                 f"of {previous}'s ({info[previous]['reduction_t']})")
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
        self.flow_strides = {name: entry["reduction_t"] for name, entry in info.items() if name in flow_levels}
        hidden = [tuple(flow_hidden)] if flow_hidden else []
        self.flows = nn.ModuleDict({level: FlowEstimator(channels[level], *hidden) for level in flow_levels})
        self.predictors = nn.ModuleDict({
            current: MotionPredictor(channels[current], channels[previous], channels[current] + channels[previous],
                                     channels[previous], self.steps[current],
                                     info[current]["reduction_t"] // info[previous]["reduction_t"])
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
        ``P^l`` by its contrastive loss with everything that computes ``P^{l-1}`` frozen, training the
        backbone stages between the two levels (with level ``l``'s prime motion block), the fusion
        ``g^{l-1}`` of the level below and level ``l``'s predictor. No stage trains its own level's
        ``g^l`` (no gradient reaches it; level ``l + 1``'s stage does). Stages above level ``l``,
        ``g`` of the top level and the classifier wait for the joint phase."""
        fusion = {level: block.g for level, block in self.backbone.motion_blocks().items()}
        stages = [ProgressiveStage("level0", self.levels[0], "reconstruct",
                                   _excluding(self.backbone.modules_through(self.levels[0]), fusion[self.levels[0]])
                                   + [self.flows[self.levels[0]]])]
        for index, (previous, current) in enumerate(zip(self.levels, self.levels[1:]), 1):
            below = len(self.backbone.modules_through(previous))
            path = _excluding(self.backbone.modules_through(current)[below:], fusion[current])
            stages.append(ProgressiveStage(f"level{index}", current, f"contrastive_{current}",
                                           [fusion[previous], *path, self.predictors[current]]))
        return stages

    def deploy(self) -> nn.Module:
        """The backbone with its prime motion blocks, without the training-only side branches."""
        return self.backbone


@register_model
def hcml(num_classes: int | tuple[int, ...], num_frames: int, backbone: str = "r2d_r50",
         backbone_options: dict | None = None, steps: int | None = None, flow_hidden: Sequence[int] | None = None,
         flow_levels: Sequence[str] | None = None) -> HCMLNet:
    """HCML's training-time network on any registered backbone with prime motion blocks:
    ``HCMLNet(create_model(backbone, num_classes, num_frames, **backbone_options), steps, flow_hidden,
    flow_levels)``. ``backbone_options`` default to ``{"motion": "pmb"}``; given, they must ask for
    the blocks themselves. :meth:`HCMLNet.deploy` returns the backbone, whose ``arch`` rebuilds it alone."""
    options = {"motion": "pmb"} if backbone_options is None else backbone_options
    net = create_model(backbone, num_classes, num_frames, **options)
    if not getattr(net, "motion_levels", ()):
        raise ValueError(f"hcml needs a backbone with prime motion blocks: build {backbone!r} with "
                         f"backbone_options={{'motion': 'pmb', ...}}, got {options}")
    return HCMLNet(net, steps, flow_hidden, flow_levels)


def _excluding(modules: Sequence[nn.Module], excluded: nn.Module) -> list[nn.Module]:
    """``modules`` without ``excluded``: a module that contains it is replaced by its children, recursively
    (a container with parameters of its own cannot be split and is refused)."""
    kept = []
    for module in modules:
        if module is excluded:
            continue
        if not any(inner is excluded for inner in module.modules()):
            kept.append(module)
            continue
        if any(True for _ in module.parameters(recurse=False)):
            raise ValueError(f"cannot train {type(module).__name__} without one of its submodules: it has parameters "
                             "of its own")
        kept += _excluding(list(module.children()), excluded)
    return kept
