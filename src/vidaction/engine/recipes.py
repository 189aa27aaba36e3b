"""The staged recipes: several training runs in sequence, each a stage folder of the run.

- :func:`run_mfr`: W3's mature-feature-guided self-distillation (Sec. 3.4), teacher then student.
- :func:`run_hcml_progressive`: HCML's progressive self-supervised phase (Sec. 3.2), one stage per
  motion level, then the joint phase (``hcml_progressive``) or the deployed backbone
  (``hcml_pretrain``).

``train_stage(cfg, stage=None, init=None)`` trains one stage (see
:func:`vidaction.engine.experiment.run_training`); a staged run's ``train.resume`` must lie in one of
its stage folders and resumes that stage.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from vidaction.config import ConfigError, ExperimentConfig, RecipeConfig
from vidaction.engine import distributed
from vidaction.engine.checkpoint import load_checkpoint
from vidaction.engine.tasks.recognition import build_model, check_motion, load_trained_model
from vidaction.io import atomic_torch_save
from vidaction.models.pretrained import weights_record

TrainStage = Callable[..., dict[str, Any]]


def run_mfr(cfg: ExperimentConfig, train_stage: TrainStage, log) -> dict[str, Any]:
    """W3 Sec. 3.4: the teacher (``recipe.teacher``, else trained first into ``teacher/``), then the
    student with the mimic loss into ``student/``."""
    out = Path(cfg.train.out_dir)
    teacher = cfg.recipe.mfr.teacher
    if not teacher:
        if distributed.is_main_process():
            log(f"MFR stage 1: training the teacher into {out / 'teacher'}")
        train_stage(replace(cfg, train=replace(cfg.train, out_dir=str(out / "teacher")), recipe=RecipeConfig()))
        teacher = str(out / "teacher" / "best.pt")
        distributed.barrier()
    if distributed.is_main_process():
        log(f"MFR stage 2: training the student into {out / 'student'} with teacher {teacher}")
    student_cfg = replace(cfg, train=replace(cfg.train, out_dir=str(out / "student")),
                          recipe=replace(cfg.recipe, mfr=replace(cfg.recipe.mfr, teacher=teacher)))
    return train_stage(student_cfg)


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


def run_hcml_progressive(cfg: ExperimentConfig, train_stage: TrainStage, log) -> dict[str, Any]:
    """HCML Sec. 3: one self-supervised stage per motion level, each from the previous stage's last
    weights, then (``hcml_progressive``) the joint phase or (``hcml_pretrain``) the deployed backbone
    written to ``pretrained.pt``. Stages whose ``last.pt`` reached their epochs are reused."""
    out = Path(cfg.train.out_dir)
    probe = build_model(replace(cfg.model, pretrained=""), max(cfg.model.num_classes, 1), cfg.data.num_frames,
                        cfg.data.input_size)
    check_motion(probe, cfg)
    levels = probe.motion_levels
    joint = cfg.recipe.name == "hcml_progressive"
    stage_dirs = [out / f"level{index}" for index in range(len(levels))] + ([out / "joint"] if joint else [])
    resume = _stage_resume(cfg.train.resume, stage_dirs)
    level_schedule = replace(cfg.schedule, epochs=cfg.recipe.hcml.level_epochs,
                             warmup_epochs=cfg.recipe.hcml.level_warmup_epochs)
    previous, metrics = None, {}
    for index, (level, stage_dir) in enumerate(zip(levels, stage_dirs)):
        stage_cfg = replace(cfg, schedule=level_schedule,
                            train=replace(cfg.train, out_dir=str(stage_dir), resume=resume.get(stage_dir, ""),
                                          sync_bn=cfg.recipe.hcml.level_sync_bn))
        if stage_dir not in resume and _finished(stage_dir / "last.pt", level_schedule.epochs):
            if distributed.is_main_process():
                log(f"HCML level {index} ({level}): reusing the finished stage in {stage_dir}")
        else:
            if distributed.is_main_process():
                log(f"HCML level {index} ({level}): self-supervised stage into {stage_dir}")
            metrics = train_stage(stage_cfg, stage=index, init=previous)
            distributed.barrier()
        previous = str(stage_dir / "last.pt")
    if joint:
        if distributed.is_main_process():
            log(f"HCML joint phase into {out / 'joint'} from {previous}")
        joint_cfg = replace(cfg, train=replace(cfg.train, out_dir=str(out / "joint"),
                                               resume=resume.get(out / "joint", "")))
        return train_stage(joint_cfg, init=previous)
    pretrained = out / "pretrained.pt"
    if distributed.is_main_process():
        model, _, _ = load_trained_model(previous)
        atomic_torch_save(weights_record(model), pretrained)
        log(f"HCML self-supervised backbone written to {pretrained} (use it as model.pretrained)")
    distributed.barrier()
    return {**metrics, "pretrained": str(pretrained)}
