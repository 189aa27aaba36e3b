"""recipe.name=hcml: joint training of R2D + prime motion blocks with HCML's side branches; the
checkpoint reloads deployed."""

from dataclasses import replace

import pytest

from vidaction.config import ConfigError, config_from_dict
from vidaction.engine.experiment import load_trained_model, run_test, run_training
from vidaction.models.backbones.r2plus1d import R2Plus1D


def hcml_config(motion_dataset, out_dir, motion="pmb"):
    return config_from_dict({
        "data": {"format": "ucf101", "root": str(motion_dataset / "videos"),
                 "annotations": str(motion_dataset / "annotations"), "num_frames": 16, "input_size": 32,
                 "resize_short": 36, "flip": False, "batch_size": 8, "num_workers": 0, "pin_memory": False},
        "model": {"name": "r2d_tiny", "dropout": 0.0, "options": {"motion": motion} if motion else {}},
        "optim": {"name": "adamw", "lr": 0.003},
        "schedule": {"epochs": 1, "warmup_epochs": 0},
        "train": {"out_dir": str(out_dir), "progress": False, "tensorboard": False, "log_every": 1},
        "recipe": {"name": "hcml", "num_locations": 4},
    })


def test_joint_training_logs_every_term_and_reloads_deployed(motion_dataset, tmp_path):
    cfg = hcml_config(motion_dataset, tmp_path / "run")
    metrics = run_training(cfg)
    assert metrics["num_videos"] > 0
    logged = (tmp_path / "run" / "metrics.jsonl").read_text()
    for term in ("reconstruct", "contrastive_res3", "contrastive_res4", "ce"):
        assert f'"{term}"' in logged
    model, _, _ = load_trained_model(tmp_path / "run" / "last.pt")
    assert isinstance(model, R2Plus1D) and not hasattr(model, "flow")
    tested = run_test(replace(cfg, train=replace(cfg.train, checkpoint=str(tmp_path / "run" / "last.pt"))))
    assert tested["top1"] == pytest.approx(metrics["top1"])


def test_hcml_recipe_needs_prime_motion_blocks(motion_dataset, tmp_path):
    with pytest.raises(ConfigError, match="model.options.motion=pmb"):
        run_training(hcml_config(motion_dataset, tmp_path / "plain", motion=None))


def test_visualize_flow_draws_the_estimated_flow(motion_dataset, tmp_path):
    from vidaction.cli.main import main

    run_training(hcml_config(motion_dataset, tmp_path / "run"))
    video = next((motion_dataset / "videos").rglob("*.mp4"))
    model, _, _ = load_trained_model(tmp_path / "run" / "last.pt", deploy=False)
    assert hasattr(model, "flow") and hasattr(model, "deploy")
    assert main(["visualize-flow", str(tmp_path / "run" / "last.pt"), str(video), "--out",
                 str(tmp_path / "flow.png")]) == 0
    assert (tmp_path / "flow.png").stat().st_size > 1000
