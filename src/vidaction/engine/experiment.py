"""One experiment skeleton for every task: ``vidaction train`` and ``vidaction test`` of a config.

:func:`run_training` joins the process group (:func:`~vidaction.engine.runtime.distributed_session`),
asks the config's task for its :class:`~vidaction.engine.tasks.parts.RunParts` (recognition:
:func:`~vidaction.engine.tasks.recognition.recognition_parts`; detection:
:func:`~vidaction.engine.tasks.detection.detection_parts`), writes the run folder and fits one
:class:`~vidaction.engine.loop.TrainingLoop` (the staged recipes, :mod:`vidaction.engine.recipes`,
fit one per stage). :func:`run_test` scores a trained checkpoint on the validation split.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from vidaction.config import ConfigError, DetectionExperimentConfig, ExperimentConfig, config_to_dict
from vidaction.data.build import build_dataset, build_loader
from vidaction.data.detection_dataset import collate_detection
from vidaction.data.feature_contract import check_feature_contract
from vidaction.engine import distributed
from vidaction.engine.evaluators import ClassificationEvaluator, detection_metrics
from vidaction.engine.loop import TrainingLoop
from vidaction.engine.prediction import predict_detections
from vidaction.engine.recipes import run_hcml_progressive, run_mfr
from vidaction.engine.runtime import Runtime, distributed_session, prepare_run_folder
from vidaction.engine.tasks.detection import (build_detection_dataset, default_tiou_thresholds, detection_parts,
                                              durations, load_trained_detector)
from vidaction.engine.tasks.parts import RunParts
from vidaction.engine.tasks.recognition import load_trained_model, recognition_parts
from vidaction.evaluation.detection_results import write_results_json


def auto_resumed(cfg: ExperimentConfig | DetectionExperimentConfig, log=print):
    """``cfg`` resuming from ``<out_dir>/last.pt`` when ``train.auto_resume`` (by default: under
    torchrun) is on, no ``train.resume`` is given and that checkpoint exists; else ``cfg``."""
    enabled = distributed.under_torchrun() if cfg.train.auto_resume is None else cfg.train.auto_resume
    last = Path(cfg.train.out_dir) / "last.pt"
    if not enabled or cfg.train.resume or not last.is_file():
        return cfg
    if distributed.is_main_process():
        log(f"auto-resume: continuing from {last}")
    return replace(cfg, train=replace(cfg.train, resume=str(last)))


def train_run(cfg: ExperimentConfig | DetectionExperimentConfig, parts: RunParts, log=print) -> dict[str, Any]:
    """Write the run folder and fit ``parts`` as ``cfg`` says (continuing the run already in
    ``out_dir`` with :func:`auto_resumed`); the final metrics and ``best_<key>``."""
    cfg = auto_resumed(cfg, log)
    prepare_run_folder(cfg.train.out_dir, cfg, parts.class_names)
    loop = TrainingLoop(parts.model, parts.objective, parts.evaluator, parts.adapter, cfg.train, cfg.optim,
                        cfg.schedule, parts.train_loader, parts.val_loader, max_bad_fraction=parts.max_bad_fraction,
                        extra_state={"config": config_to_dict(cfg), "class_names": list(parts.class_names)},
                        trainable=parts.trainable)
    return loop.fit()


def run_training(cfg: ExperimentConfig | DetectionExperimentConfig, log=print) -> dict[str, Any]:
    """Train and evaluate as configured (one run, or each stage of a staged recipe); the final metrics."""
    with distributed_session():
        if isinstance(cfg, DetectionExperimentConfig):
            return train_run(cfg, detection_parts(cfg, log), log)

        def train_stage(stage_cfg: ExperimentConfig, stage: int | None = None, init: str | None = None):
            return train_run(stage_cfg, recognition_parts(stage_cfg, log, stage, init), log)

        if cfg.recipe.name == "mfr":
            return run_mfr(cfg, train_stage, log)
        if cfg.recipe.name in ("hcml_progressive", "hcml_pretrain"):
            return run_hcml_progressive(cfg, train_stage, log)
        return train_stage(cfg)


def run_test(cfg: ExperimentConfig | DetectionExperimentConfig, log=print) -> dict[str, Any]:
    """Metrics of ``train.checkpoint`` on ``cfg``'s validation split with the configured test views
    (detection: fused with ``test.fuse_checkpoint``, a second stream, when given)."""
    if not cfg.train.checkpoint:
        raise FileNotFoundError("no checkpoint given: pass checkpoint=PATH (or train.checkpoint=PATH)")
    with distributed_session():
        if isinstance(cfg, DetectionExperimentConfig):
            return _test_detector(cfg, log)
        model, _, class_names = load_trained_model(cfg.train.checkpoint)
        val_set, data_classes = build_dataset(cfg.data, "val")
        if class_names and data_classes != class_names:
            raise FileNotFoundError(f"class list of {cfg.train.checkpoint} ({len(class_names)} classes) differs "
                                    f"from the dataset's ({len(data_classes)} classes)")
        loader = build_loader(val_set, cfg.data, train=False, distributed=distributed.world_size() > 1)
        runtime = Runtime.from_config(cfg.train)
        _, net, _ = runtime.prepare(model)
        return ClassificationEvaluator(data_classes).evaluate(net, loader, runtime,
                                                              progress=cfg.train.progress and runtime.main)


def _test_detector(cfg: DetectionExperimentConfig, log) -> dict[str, Any]:
    """The detections are written to ``<out_dir>/test_predictions.json``. Test features are checked
    against the feature contract of each checkpoint's training features (:mod:`vidaction.data.feature_contract`)."""
    runtime = Runtime.from_config(cfg.train)
    nets, loaders, class_names, val_set = [], [], None, None
    for path in [cfg.train.checkpoint] + ([cfg.test.fuse_checkpoint] if cfg.test.fuse_checkpoint else []):
        model, stream_cfg, stream_classes = load_trained_detector(path)
        data_cfg = cfg.data if path == cfg.train.checkpoint else stream_cfg.data
        if class_names is not None and stream_classes != class_names:
            raise ConfigError(f"{path} was trained on other classes than {cfg.train.checkpoint}")
        class_names = stream_classes
        dataset, _ = build_detection_dataset(data_cfg, "val", class_names)
        if data_cfg.input == "features":  # the features must be made as the detector's training features were
            check_feature_contract(data_cfg, [video.path for video in dataset.videos],
                                   (model.pretrained_cfg or {}).get("features"))
        val_set = val_set or dataset
        nets.append(model.to(runtime.device))
        loaders.append(build_loader(dataset, data_cfg, False, distributed.world_size() > 1, collate_detection))
    detections, bad = predict_detections(nets, loaders, cfg.test, runtime.device, durations(val_set),
                                         progress=cfg.train.progress and runtime.main)
    metrics = detection_metrics(val_set.videos, detections, class_names,
                                default_tiou_thresholds(cfg.data, cfg.test.tiou_thresholds))
    if runtime.main:
        out = Path(cfg.train.out_dir)
        write_results_json(out / "test_predictions.json", detections, class_names)
        log(f"detections written to {out / 'test_predictions.json'}")
    return {**metrics, "bad_windows": len(bad), "streams": len(nets)}
