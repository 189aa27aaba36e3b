"""What an export starts from: a trained network and what its checkpoint says about running it.

:func:`load_export_source` reads a training checkpoint (``best.pt`` / ``last.pt`` of ``vidaction
train``; recognition through :func:`~vidaction.engine.tasks.recognition.load_trained_model`, HCML
deployed, detection through :func:`~vidaction.engine.tasks.detection.load_trained_detector`) or a
weights file (:func:`~vidaction.models.pretrained.weights_record`: ``vidaction convert-checkpoint``,
published weights). Every such file carries the network's ``arch`` record and its
``pretrained_cfg`` (mean/std, frames, size, class names; for detectors the window, fps and feature
recipe), which :class:`ExportSource` turns into the exported graph's inputs
(:meth:`ExportSource.input_specs`) and into the preprocessing and post-processing the sidecar states.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from torch import Tensor, nn

from vidaction.config import config_from_saved
from vidaction.config.detection import DetectionExperimentConfig, DetectionTestConfig
from vidaction.engine.checkpoint import load_checkpoint
from vidaction.models.detector import TemporalDetector
from vidaction.models.motion.hcml import HCMLNet
from vidaction.models.pretrained import model_from_record

# (name, layout) of the graphs' outputs: raw class logits; decoded segments (window steps) and scores.
CLASSIFIER_OUTPUTS = (("scores", "N K"),)
DETECTOR_OUTPUTS = (("segments", "N L (start, end)"), ("scores", "N L K"))


class ExportError(ValueError):
    """A checkpoint, network or option that cannot be exported; the message says what to do."""


@dataclass
class TensorSpec:
    """One input or output of an exported graph: ``shape`` has ``"batch"`` for a dynamic batch axis."""

    name: str
    shape: list
    dtype: str
    layout: str


@dataclass
class ExportSource:
    """A network in eval mode and the checkpoint's record of how to run it.

    ``task`` is ``"recognition"`` (a clip classifier) or ``"detection"`` (a :class:`TemporalDetector`);
    ``preprocessing`` is the checkpoint's ``pretrained_cfg`` without the class names;
    ``postprocessing`` the run's test settings (detection: thresholds and soft-NMS).
    """

    model: nn.Module
    task: str
    class_names: list[str] = field(default_factory=list)
    preprocessing: dict = field(default_factory=dict)
    postprocessing: dict = field(default_factory=dict)

    def input_specs(self, frames: int | None = None, size: int | None = None, batch: str | int = "batch"
                    ) -> list[TensorSpec]:
        """The graph's inputs for clips of ``frames`` x ``size`` x ``size`` (defaults: the checkpoint's
        ``num_frames`` / ``window`` and ``input_size``); ``batch`` is the first axis."""
        if self.task == "detection":
            return self._detector_inputs(frames, size, batch)
        frames = frames or self.preprocessing.get("num_frames") or getattr(self.model, "num_frames", None)
        size = size or self.preprocessing.get("input_size")
        if not frames or not size:
            raise ExportError("the checkpoint records no clip length or input size: pass --frames and --size")
        channels = _first_conv(self.model).in_channels
        return [TensorSpec("clip", [batch, channels, int(frames), int(size), int(size)], "float32", "N C T H W")]

    def output_specs(self, outputs: Sequence[Tensor], batch: str | int = "batch") -> list[TensorSpec]:
        """The graph's outputs, shaped as ``outputs`` (the graph's on an example input) past the batch axis."""
        layouts = DETECTOR_OUTPUTS if self.task == "detection" else CLASSIFIER_OUTPUTS
        return [TensorSpec(name, [batch, *(int(n) for n in out.shape[1:])], "float32", layout)
                for (name, layout), out in zip(layouts, outputs)]

    def _detector_inputs(self, frames: int | None, size: int | None, batch: str | int) -> list[TensorSpec]:
        if size:
            raise ExportError("a detector's input size is fixed by its head (the features' grid or the "
                              "training crop): omit --size")
        steps = frames or self.preprocessing.get("window")
        if not steps:
            raise ExportError("the checkpoint records no window length: pass --frames (input steps per window)")
        mask = TensorSpec("mask", [batch, int(steps)], "bool", "N T")
        if self.model.backbone is None:
            spec = self.model.head.input_spec[0]
            grid = list(spec.spatial) if spec.spatial else []
            layout = "N C T H W" if grid else "N C T"
            return [TensorSpec("features", [batch, spec.channels, int(steps), *grid], "float32", layout), mask]
        crop = int(self.preprocessing.get("crop") or self.model.arch["kwargs"].get("crop", 96))
        channels = _first_conv(self.model.backbone).in_channels
        return [TensorSpec("clip", [batch, channels, int(steps), crop, crop], "float32", "N C T H W"), mask]


def load_export_source(path: str | Path) -> ExportSource:
    """The network of a training checkpoint or a weights file, with its records (module docstring)."""
    from vidaction.engine.tasks.detection import load_trained_detector
    from vidaction.engine.tasks.recognition import load_trained_model

    state = load_checkpoint(path, mmap=True)
    if "config" in state and "model" in state:
        if isinstance(config_from_saved(state["config"]), DetectionExperimentConfig):
            model, cfg, class_names = load_trained_detector(path)
            return _source(model, class_names, asdict(cfg.test))
        model, _, class_names = load_trained_model(path)
        return _source(model, class_names)
    if "arch" not in state or "model" not in state:
        raise ExportError(f"{path} is neither a training checkpoint nor a vidaction weights file (no 'arch' and "
                          "'model' entries); convert foreign weights with 'vidaction convert-checkpoint' first")
    model = model_from_record(state)
    return _source(model, list(model.pretrained_cfg.get("class_names") or []))


def _source(model: nn.Module, class_names: list[str], test: dict | None = None) -> ExportSource:
    if isinstance(model, HCMLNet):
        model = model.deploy()
    preprocessing = {k: v for k, v in getattr(model, "pretrained_cfg", {}).items() if k != "class_names"}
    if isinstance(model, TemporalDetector):
        settings = test or asdict(DetectionTestConfig())
        kept = ("score_threshold", "nms_sigma", "nms_top_k", "nms_score_threshold", "max_detections")
        return ExportSource(model.eval(), "detection", class_names, preprocessing, {k: settings[k] for k in kept})
    return ExportSource(model.eval(), "recognition", class_names, preprocessing,
                        {"head_sizes": list(getattr(model, "head_sizes", None) or [model.num_classes])})


def _first_conv(model: nn.Module) -> nn.Module:
    """The network's first convolution, whose ``in_channels`` are the input's."""
    return next(m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Conv3d)))
