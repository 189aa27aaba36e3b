"""Recognition runs from an :class:`ExperimentConfig`: the parts of a training run and trained models.

This is where the recognition config tree is split: the dataset builder gets ``cfg.data``, the model
factory ``cfg.model`` (plus the clip length and crop from the data), the objective ``cfg.recipe``.
:func:`recognition_parts` gives a run's :class:`~vidaction.engine.tasks.parts.RunParts` for the
single-run recipes (``standard``, MFR's student, GAF's recognition loss, HCML's joint loss or one
progressive stage); the staged recipes are in :mod:`vidaction.engine.recipes`.
"""

from __future__ import annotations

from pathlib import Path

from torch import nn

from vidaction.config import ConfigError, ExperimentConfig, ModelConfig, config_from_saved
from vidaction.data.build import build_dataset, build_loader
from vidaction.data.labels import head_sizes, num_classes_of
from vidaction.engine import distributed
from vidaction.engine.batches import ClipBatches
from vidaction.engine.checkpoint import load_checkpoint
from vidaction.engine.evaluators import ClassificationEvaluator, ObjectiveEvaluator
from vidaction.engine.objectives import (CrossEntropyObjective, GAFRecognitionObjective, HCMLObjective,
                                         HCMLStageObjective, MatureFeatureObjective)
from vidaction.engine.runtime import seed_everything
from vidaction.engine.tasks.parts import RunParts
from vidaction.models import ModelNotFoundError, create_model, create_model_from_arch, load_pretrained
from vidaction.models.generative.gaf_classifier import GAFClassifier
from vidaction.models.hub import fetch_weights, get_weights, is_weights_name
from vidaction.models.motion.hcml import HCMLNet
from vidaction.models.registry import model_options

# Recipes whose network is an HCMLNet (backbone + side branches) during training.
HCML_RECIPES = ("hcml", "hcml_progressive", "hcml_pretrain")


def model_arguments(model_cfg: ModelConfig, input_size: int | None = None) -> dict:
    """The builder's options: ``model_cfg.options`` unchanged, ``dropout``, and ``input_size`` (the
    data's crop) for builders that take it unless the options set it, so an attention kernel larger
    than a stage's feature maps fails when the model is built, naming the layer."""
    options = {"dropout": model_cfg.dropout, **model_cfg.options}
    if input_size is not None and "input_size" in model_options(model_cfg.name):
        options.setdefault("input_size", input_size)
    return options


def _create(name: str, num_classes: int | tuple[int, ...], num_frames: int, **options) -> nn.Module:
    try:
        return create_model(name, num_classes=num_classes, num_frames=num_frames, **options)
    except ModelNotFoundError:
        raise
    except ValueError as exc:
        raise ConfigError(f"model {name!r} cannot be built with these options: {exc}") from exc


def build_model(model_cfg: ModelConfig, num_classes: int | tuple[int, ...], num_frames: int,
                input_size: int | None = None) -> nn.Module:
    """Create the configured model (:func:`model_arguments`)."""
    return _create(model_cfg.name, num_classes, num_frames, **model_arguments(model_cfg, input_size))


def build_hcml(cfg: ExperimentConfig, num_classes: int | tuple[int, ...]) -> HCMLNet:
    """The configured backbone inside HCML's training network (the registered ``hcml`` wrapper),
    its side branches sized by ``cfg.recipe.hcml``."""
    if cfg.model.options.get("motion") != "pmb":
        raise ConfigError(f"recipe.name={cfg.recipe.name} needs a backbone with prime motion blocks: set "
                          f"model.options.motion=pmb (model {cfg.model.name!r} has none)")
    recipe = cfg.recipe.hcml
    return _create("hcml", num_classes, cfg.data.num_frames, backbone=cfg.model.name,
                   backbone_options=model_arguments(cfg.model, cfg.data.input_size),
                   steps=recipe.prediction_steps or None, flow_hidden=recipe.flow_hidden or None,
                   flow_levels=recipe.flow_levels or None)


def attach_preprocessing(model: nn.Module, cfg: ExperimentConfig, class_names: list[str]) -> None:
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


def check_motion(model: nn.Module, cfg: ExperimentConfig) -> None:
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


def recognition_parts(cfg: ExperimentConfig, log=print, stage: int | None = None,
                      init: str | None = None) -> RunParts:
    """One run's parts. For the HCML recipes, ``stage`` picks a self-supervised stage of the
    progressive phase (``None``: the joint loss) and ``init`` a checkpoint of a previous stage."""
    weights = Path(cfg.model.pretrained).expanduser() if cfg.model.pretrained and init is None else None
    if weights is not None and is_weights_name(cfg.model.pretrained):
        weights = get_weights(cfg.model.pretrained, cfg.model.name).name
        if distributed.is_main_process():  # one download, before the datasets are built
            fetch_weights(weights)
        distributed.barrier()
    elif weights is not None and not weights.is_file():
        raise FileNotFoundError(f"model.pretrained: no weights file at {weights}")
    seed_everything(cfg.train.seed + distributed.rank())
    train_set, class_names = build_dataset(cfg.data, "train", seed=cfg.train.seed)
    val_set, _ = build_dataset(cfg.data, "val", seed=cfg.train.seed)
    num_classes = cfg.model.num_classes or num_classes_of(class_names)
    hcml = cfg.recipe.name in HCML_RECIPES
    model = build_hcml(cfg, num_classes) if hcml else build_model(cfg.model, num_classes, cfg.data.num_frames,
                                                                   cfg.data.input_size)
    if weights is not None:
        source = f"{weights}: {load_pretrained(model.backbone if hcml else model, weights)}"
    else:
        source = f"{init} (the previous stage)" if init else "random initialisation"
    if distributed.is_main_process():
        log(f"weights: {source}")
    attach_preprocessing(model, cfg, class_names)
    heads = head_sizes(class_names)
    objective, evaluator, trainable = CrossEntropyObjective(cfg.optim.label_smoothing, heads), None, None
    if cfg.recipe.name == "mfr":
        teacher, _, _ = load_trained_model(cfg.recipe.mfr.teacher)
        check_same_architecture(model, teacher, cfg.recipe.mfr.teacher)
        objective = MatureFeatureObjective(teacher, cfg.recipe.mfr.mimic_weight, cfg.optim.label_smoothing,
                                           head_sizes=heads, normalize=cfg.recipe.mfr.mimic_normalize)
    if cfg.recipe.name == "gaf":
        if not isinstance(model, GAFClassifier):
            raise ConfigError(f"recipe.name=gaf trains GAF's recognition loss: use a gaf_* model (gaf_i3d, "
                              f"gaf_tsm_r50), not {cfg.model.name!r}")
        objective = GAFRecognitionObjective(cfg.recipe.gaf.nonaction_weight, cfg.optim.label_smoothing)
    if hcml:
        if init is not None:
            model.load_state_dict(load_checkpoint(init)["model"])
        if stage is None:
            objective = HCMLObjective(cfg.recipe.hcml.reconstruction_weight, cfg.recipe.hcml.contrastive_weight,
                                      cfg.recipe.hcml.num_locations)
        else:
            plan = model.progressive_stages()[stage]
            objective, trainable = HCMLStageObjective(plan.loss, cfg.recipe.hcml.num_locations), plan.trainable
            evaluator = ObjectiveEvaluator(objective)
    several = distributed.world_size() > 1
    return RunParts(model, objective, evaluator or ClassificationEvaluator(class_names),
                    ClipBatches(heads, reports_accuracy=stage is None),
                    build_loader(train_set, cfg.data, train=True, distributed=several),
                    build_loader(val_set, cfg.data, train=False, distributed=several),
                    class_names, cfg.data.max_bad_fraction, trainable)


def load_trained_model(checkpoint_path: str | Path,
                       deploy: bool = True) -> tuple[nn.Module, ExperimentConfig, list[str]]:
    """Rebuild a model saved by a recognition run from the architecture record it carries
    (``arch``; checkpoints older than the records: from their config), with its config and class
    names. HCML runs come back deployed (the backbone without its training-only side branches)
    unless ``deploy=False``, which returns the whole :class:`HCMLNet` (e.g. to draw its estimated flow)."""
    state = load_checkpoint(checkpoint_path)
    if "config" not in state or "model" not in state:
        raise FileNotFoundError(
            f"{checkpoint_path} is not a vidaction training checkpoint (no 'config'/'model' entries); "
            "convert foreign weights with 'vidaction convert-checkpoint'"
        )
    cfg = config_from_saved(state["config"])
    class_names = list(state.get("class_names") or [])
    num_classes = cfg.model.num_classes or num_classes_of(class_names)
    if isinstance(state.get("arch"), dict):
        model = create_model_from_arch(state["arch"])
    elif cfg.recipe.name in HCML_RECIPES:
        model = build_hcml(cfg, num_classes)
    else:
        model = build_model(cfg.model, num_classes, cfg.data.num_frames, cfg.data.input_size)
    model.load_state_dict(state["model"])
    if isinstance(model, HCMLNet) and deploy:
        model = model.deploy()
    model.pretrained_cfg = state.get("pretrained_cfg", getattr(model, "pretrained_cfg", {}))
    return model, cfg, class_names
