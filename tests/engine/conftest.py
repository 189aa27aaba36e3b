"""Training runs that several engine tests inspect, each trained once per session."""

from pathlib import Path

import pytest

# HCML's tests train r2d_tiny with prime motion blocks on 8-frame 48 x 48 clips: the smallest on which
# every motion level (res2-res4) sees at least two time steps and 3 x 3 maps, the search window of the
# cost volume at motion_max_displacement=1.
HCML_FRAMES, HCML_SIZE = 8, 48


def make_hcml_config(motion_dataset: Path, out_dir: Path, motion="pmb", recipe="hcml", num_frames=HCML_FRAMES,
                     input_size=HCML_SIZE, **recipe_kw):
    from vidaction.config import config_from_dict

    return config_from_dict({
        "data": {"format": "ucf101", "root": str(motion_dataset / "videos"),
                 "annotations": str(motion_dataset / "annotations"), "num_frames": num_frames,
                 "input_size": input_size, "resize_short": input_size + input_size // 8, "flip": False,
                 "batch_size": 8, "num_workers": 0, "pin_memory": False},
        "model": {"name": "r2d_tiny", "dropout": 0.0,
                  "options": {"motion": motion, "motion_max_displacement": 1} if motion else {}},
        "optim": {"name": "adamw", "lr": 0.003},
        "schedule": {"epochs": 1, "warmup_epochs": 0},
        "train": {"out_dir": str(out_dir), "progress": False, "tensorboard": False, "log_every": 1},
        "recipe": {"name": recipe, **({"num_locations": 4} if recipe.startswith("hcml") else {}), **recipe_kw},
    })


@pytest.fixture(scope="session")
def hcml_config():
    """``hcml_config(motion_dataset, out_dir, motion="pmb", recipe="hcml", num_frames=8, input_size=48,
    **recipe)``: an HCML run of r2d_tiny on the synthetic motion set for one epoch."""
    return make_hcml_config


@pytest.fixture(scope="session")
def hcml_joint_run(motion_dataset, tmp_path_factory):
    """``(cfg, out_dir, metrics)`` of HCML's joint recipe, with flow estimators on res2 and res3."""
    from vidaction.engine.experiment import run_training

    out = tmp_path_factory.mktemp("hcml_joint")
    cfg = make_hcml_config(motion_dataset, out, flow_levels=["res2", "res3"])
    return cfg, out, run_training(cfg)


@pytest.fixture(scope="session")
def hcml_progressive_run(motion_dataset, tmp_path_factory):
    """``(cfg, out_dir, metrics)`` of HCML's progressive recipe: one epoch per level, then one joint."""
    from vidaction.engine.experiment import run_training

    out = tmp_path_factory.mktemp("hcml_progressive")
    cfg = make_hcml_config(motion_dataset, out, recipe="hcml_progressive", level_epochs=1, level_warmup_epochs=0)
    return cfg, out, run_training(cfg)
