"""Assemble a recognition experiment from an :class:`ExperimentConfig`: data, model, trainer.

This is the one place where the config tree is split: the dataset builder gets ``cfg.data``, the
model factory ``cfg.model`` (plus the clip length from the data), the trainer the optimisation,
schedule and run sections.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
from torch import nn

from vidaction.config import (ConfigError, ExperimentConfig, ModelConfig, RecipeConfig, config_from_dict,
                              config_to_dict, save_config)
from vidaction.data.build import build_dataset, build_loader
from vidaction.engine import distributed
from vidaction.engine.checkpoint import load_checkpoint
from vidaction.engine.objectives import (GAFRecognitionObjective, HCMLObjective, HCMLStageObjective,
                                        MatureFeatureObjective)
from vidaction.engine.trainer import Trainer, seed_everything
from vidaction.io import atomic_torch_save
from vidaction.data.labels import head_sizes, num_classes_of
from vidaction.models import ModelNotFoundError, create_model, load_pretrained
from vidaction.models.generative.gaf_classifier import GAFClassifier
from vidaction.models.motion.hcml import HCMLNet
from vidaction.models.registry import model_options

# Recipes whose network is an HCMLNet (backbone + side branches) during training.
HCML_RECIPES = ("hcml", "hcml_progressive", "hcml_pretrain")


def build_model(model_cfg: ModelConfig, num_classes: int | tuple[int, ...], num_frames: int,
                input_size: int | None = None) -> nn.Module:
    """Create the configured model; ``model_cfg.options`` are passed to its builder unchanged.

    ``input_size`` (the data's crop) reaches builders that take it unless the options set it, so
    an attention kernel larger than a stage's feature maps fails here, naming the layer.
    """
    options = dict(model_cfg.options)
    if input_size is not None and "input_size" in model_options(model_cfg.name):
        options.setdefault("input_size", input_size)
    try:
        return create_model(model_cfg.name, num_classes=num_classes, num_frames=num_frames,
                            dropout=model_cfg.dropout, **options)
    except ModelNotFoundError:
        raise
    except ValueError as exc:
        raise ConfigError(f"model {model_cfg.name!r} cannot be built with these options: {exc}") from exc


def _attach_preprocessing(model: nn.Module, cfg: ExperimentConfig, class_names: list[str]) -> None:
    """Record in the weights what inference needs to reproduce the training preprocessing."""
    model.pretrained_cfg = {
        **getattr(model, "pretrained_cfg", {}),
        "mean": list(cfg.data.mean),
        "std": list(cfg.data.std),
        "num_frames": cfg.data.num_frames,
        "input_size": cfg.data.input_size,
        "resize_short": cfg.data.resize_short,
        "class_names": list(class_names),
    }


def run_training(cfg: ExperimentConfig, log=print) -> dict[str, Any]:
    """Train and evaluate as configured (one run, the two MFR stages or HCML's progressive stages);
    returns the final metrics."""
    distributed.init_distributed()
    try:
        if cfg.recipe.name == "mfr":
            return _run_mfr(cfg, log)
        if cfg.recipe.name in ("hcml_progressive", "hcml_pretrain"):
            return _run_hcml_progressive(cfg, log)
        return _run_single(cfg, log)
    finally:
        distributed.cleanup()


def _run_mfr(cfg: ExperimentConfig, log) -> dict[str, Any]:
    out = Path(cfg.train.out_dir)
    teacher = cfg.recipe.teacher
    if not teacher:
        if distributed.is_main_process():
            log(f"MFR stage 1: training the teacher into {out / 'teacher'}")
        _run_single(replace(cfg, train=replace(cfg.train, out_dir=str(out / "teacher")),
                            recipe=RecipeConfig()), log)
        teacher = str(out / "teacher" / "best.pt")
        distributed.barrier()
    if distributed.is_main_process():
        log(f"MFR stage 2: training the student into {out / 'student'} with teacher {teacher}")
    student_cfg = replace(cfg, train=replace(cfg.train, out_dir=str(out / "student")),
                          recipe=replace(cfg.recipe, teacher=teacher))
    return _run_single(student_cfg, log)


def _finished(checkpoint: Path, epochs: int) -> bool:
    return checkpoint.is_file() and load_checkpoint(checkpoint).get("epoch", 0) >= epochs


def _stage_resume(resume: str, stage_dirs: list[Path]) -> dict[Path, str]:
    """``train.resume`` of a staged run must lie in one of its stage folders; it resumes that stage."""
    if not resume:
        return {}
    folder = Path(resume).resolve().parent
    for stage_dir in stage_dirs:
        if stage_dir.resolve() == folder:
            return {stage_dir: resume}
    raise ConfigError(f"train.resume={resume}: a staged recipe resumes one of its stages, so the checkpoint must "
                      f"lie in one of {[str(d) for d in stage_dirs]}")


def _run_hcml_progressive(cfg: ExperimentConfig, log) -> dict[str, Any]:
    """HCML Sec. 3: one self-supervised stage per motion level, each from the previous stage's last
    weights, then (``hcml_progressive``) the joint phase or (``hcml_pretrain``) the deployed backbone
    written to ``pretrained.pt``. Stages whose ``last.pt`` reached their epochs are reused."""
    out = Path(cfg.train.out_dir)
    probe = build_model(replace(cfg.model, pretrained=""), max(cfg.model.num_classes, 1), cfg.data.num_frames,
                        cfg.data.input_size)
    _check_motion(probe, cfg)
    levels = probe.motion_levels
    joint = cfg.recipe.name == "hcml_progressive"
    stage_dirs = [out / f"level{index}" for index in range(len(levels))] + ([out / "joint"] if joint else [])
    resume = _stage_resume(cfg.train.resume, stage_dirs)
    level_schedule = replace(cfg.schedule, epochs=cfg.recipe.level_epochs,
                             warmup_epochs=cfg.recipe.level_warmup_epochs)
    previous, metrics = None, {}
    for index, (level, stage_dir) in enumerate(zip(levels, stage_dirs)):
        stage_cfg = replace(cfg, schedule=level_schedule,
                            train=replace(cfg.train, out_dir=str(stage_dir), resume=resume.get(stage_dir, ""),
                                          sync_bn=cfg.recipe.level_sync_bn))
        if stage_dir not in resume and _finished(stage_dir / "last.pt", level_schedule.epochs):
            if distributed.is_main_process():
                log(f"HCML level {index} ({level}): reusing the finished stage in {stage_dir}")
        else:
            if distributed.is_main_process():
                log(f"HCML level {index} ({level}): self-supervised stage into {stage_dir}")
            metrics = _run_single(stage_cfg, log, stage=index, init=previous)
            distributed.barrier()
        previous = str(stage_dir / "last.pt")
    if joint:
        if distributed.is_main_process():
            log(f"HCML joint phase into {out / 'joint'} from {previous}")
        joint_cfg = replace(cfg, train=replace(cfg.train, out_dir=str(out / "joint"),
                                               resume=resume.get(out / "joint", "")))
        return _run_single(joint_cfg, log, init=previous)
    pretrained = out / "pretrained.pt"
    if distributed.is_main_process():
        model, _, _ = load_trained_model(previous)
        atomic_torch_save({"format": "vidaction", "arch": cfg.model.name, "model": model.state_dict(),
                           "pretrained_cfg": model.pretrained_cfg}, pretrained)
        log(f"HCML self-supervised backbone written to {pretrained} (use it as model.pretrained)")
    distributed.barrier()
    return {**metrics, "pretrained": str(pretrained)}


def _hcml_net(backbone: nn.Module, cfg: ExperimentConfig) -> HCMLNet:
    """The backbone with HCML's side branches as ``cfg.recipe`` sizes them."""
    try:
        return HCMLNet(backbone, steps=cfg.recipe.prediction_steps or None, flow_hidden=cfg.recipe.flow_hidden or None,
                       flow_levels=cfg.recipe.flow_levels or None)
    except ValueError as exc:
        raise ConfigError(f"HCML's side branches cannot be built: {exc}") from exc


def _check_motion(model: nn.Module, cfg: ExperimentConfig) -> None:
    if not getattr(model, "motion_levels", ()):
        raise ConfigError(f"recipe.name={cfg.recipe.name} needs a backbone with prime motion blocks: set "
                          f"model.options.motion=pmb (model {cfg.model.name!r} has none)")


def check_same_architecture(student: nn.Module, teacher: nn.Module, teacher_path: str) -> None:
    """MFR needs the teacher to be the student's architecture; name every key that differs."""
    ours, theirs = student.state_dict(), teacher.state_dict()
    differing = sorted(set(ours) ^ set(theirs))
    differing += [f"{k} {tuple(theirs[k].shape)} vs {tuple(ours[k].shape)}" for k in ours
                  if k in theirs and ours[k].shape != theirs[k].shape]
    if differing:
        shown = ", ".join(differing[:8]) + (f", ... ({len(differing) - 8} more)" if len(differing) > 8 else "")
        raise ConfigError(f"recipe.teacher {teacher_path} is not the student's architecture; differing keys: {shown}")


def _run_single(cfg: ExperimentConfig, log, stage: int | None = None, init: str | None = None) -> dict[str, Any]:
    """One training run. For the HCML recipes, ``stage`` picks a self-supervised stage of the
    progressive phase (``None``: the joint loss) and ``init`` a checkpoint of a previous stage."""
    weights = Path(cfg.model.pretrained).expanduser() if cfg.model.pretrained and init is None else None
    if weights is not None and not weights.is_file():
        raise FileNotFoundError(f"model.pretrained: no weights file at {weights}")
    seed_everything(cfg.train.seed + distributed.rank())
    train_set, class_names = build_dataset(cfg.data, "train")
    val_set, _ = build_dataset(cfg.data, "val")
    num_classes = cfg.model.num_classes or num_classes_of(class_names)
    model = build_model(cfg.model, num_classes, cfg.data.num_frames, cfg.data.input_size)
    if weights is not None:
        source = f"{weights}: {load_pretrained(model, weights)}"
    else:
        source = f"{init} (the previous stage)" if init else "random initialisation"
    if distributed.is_main_process():
        log(f"weights: {source}")
    _attach_preprocessing(model, cfg, class_names)
    objective, trainable = None, None
    if cfg.recipe.name == "mfr":
        teacher, _, _ = load_trained_model(cfg.recipe.teacher)
        check_same_architecture(model, teacher, cfg.recipe.teacher)
        objective = MatureFeatureObjective(teacher, cfg.recipe.mimic_weight, cfg.optim.label_smoothing,
                                           head_sizes=head_sizes(class_names), normalize=cfg.recipe.mimic_normalize)
    if cfg.recipe.name == "gaf":
        if not isinstance(model, GAFClassifier):
            raise ConfigError(f"recipe.name=gaf trains GAF's recognition loss: use a gaf_* model (gaf_i3d, "
                              f"gaf_tsm_r50), not {cfg.model.name!r}")
        objective = GAFRecognitionObjective(cfg.recipe.nonaction_weight, cfg.optim.label_smoothing)
    if cfg.recipe.name in HCML_RECIPES:
        _check_motion(model, cfg)
        pretrained_cfg = model.pretrained_cfg
        model = _hcml_net(model, cfg)
        model.pretrained_cfg = pretrained_cfg
        if init is not None:
            model.load_state_dict(load_checkpoint(init)["model"])
        if stage is None:
            objective = HCMLObjective(cfg.recipe.reconstruction_weight, cfg.recipe.contrastive_weight,
                                      cfg.recipe.num_locations)
        else:
            plan = model.progressive_stages()[stage]
            objective, trainable = HCMLStageObjective(plan.loss, cfg.recipe.num_locations), plan.trainable
    is_distributed = distributed.world_size() > 1
    train_loader = build_loader(train_set, cfg.data, train=True, distributed=is_distributed)
    val_loader = build_loader(val_set, cfg.data, train=False, distributed=is_distributed)
    out_dir = Path(cfg.train.out_dir)
    if distributed.is_main_process():
        out_dir.mkdir(parents=True, exist_ok=True)
        save_config(cfg, out_dir / "config.yaml")
        (out_dir / "classes.txt").write_text("\n".join(class_names) + "\n")
    trainer = Trainer(model, cfg.optim, cfg.schedule, cfg.train, train_loader, val_loader,
                      class_names, max_bad_fraction=cfg.data.max_bad_fraction,
                      extra_state={"config": config_to_dict(cfg)}, objective=objective,
                      self_supervised=stage is not None, trainable=trainable)
    return trainer.fit()


def load_trained_model(checkpoint_path: str | Path,
                       deploy: bool = True) -> tuple[nn.Module, ExperimentConfig, list[str]]:
    """Rebuild a model saved by :class:`Trainer` from the config and class names it carries. HCML runs
    come back deployed (the backbone without its training-only side branches) unless ``deploy=False``,
    which returns the whole :class:`HCMLNet` (e.g. to draw its estimated flow)."""
    state = load_checkpoint(checkpoint_path)
    if "config" not in state or "model" not in state:
        raise FileNotFoundError(
            f"{checkpoint_path} is not a vidaction training checkpoint (no 'config'/'model' entries); "
            "convert foreign weights with 'vidaction convert-checkpoint'"
        )
    cfg = config_from_dict(state["config"])
    class_names = list(state.get("class_names") or [])
    num_classes = cfg.model.num_classes or num_classes_of(class_names)
    model = build_model(replace(cfg.model, pretrained=""), num_classes, cfg.data.num_frames, cfg.data.input_size)
    weights = state["model"]
    if cfg.recipe.name in HCML_RECIPES and deploy:
        weights = {k.removeprefix("backbone."): v for k, v in weights.items() if k.startswith("backbone.")}
    elif cfg.recipe.name in HCML_RECIPES:
        model = _hcml_net(model, cfg)
    model.load_state_dict(weights)
    model.pretrained_cfg = state.get("pretrained_cfg", getattr(model, "pretrained_cfg", {}))
    return model, cfg, class_names


def run_test(cfg: ExperimentConfig, log=print) -> dict[str, Any]:
    """Evaluate ``cfg.train.checkpoint`` on the validation split with the configured test views."""
    if not cfg.train.checkpoint:
        raise FileNotFoundError("no checkpoint given: pass checkpoint=PATH (or train.checkpoint=PATH)")
    distributed.init_distributed()
    try:
        model, _, class_names = load_trained_model(cfg.train.checkpoint)
        val_set, data_classes = build_dataset(cfg.data, "val")
        if class_names and data_classes != class_names:
            raise FileNotFoundError(
                f"class list of {cfg.train.checkpoint} ({len(class_names)} classes) differs from the "
                f"dataset's ({len(data_classes)} classes)"
            )
        val_loader = build_loader(val_set, cfg.data, train=False, distributed=distributed.world_size() > 1)
        trainer = Trainer(model, cfg.optim, cfg.schedule, cfg.train, None, val_loader, data_classes,
                          max_bad_fraction=cfg.data.max_bad_fraction)
        return trainer.evaluate(val_loader)
    finally:
        distributed.cleanup()


def default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")
