"""The run log names the weights a recognition run starts from (``model.pretrained``, ``~`` expanded),
with what loaded, or says that it starts from a random initialisation."""

import re

import pytest
import torch

from vidaction.config import config_from_dict
from vidaction.engine.experiment import run_training
from vidaction.models import create_model


def tiny_run(motion_dataset, out_dir, pretrained=""):
    return config_from_dict({
        "data": {"format": "ucf101", "root": str(motion_dataset / "videos"),
                 "annotations": str(motion_dataset / "annotations"), "num_frames": 4, "input_size": 32,
                 "resize_short": 36, "batch_size": 8, "num_workers": 0, "pin_memory": False},
        "model": {"name": "tsm_tiny", "dropout": 0.0, "pretrained": pretrained},
        "optim": {"name": "adamw", "lr": 0.003},
        "schedule": {"epochs": 1, "warmup_epochs": 0},
        "train": {"out_dir": str(out_dir), "progress": False, "tensorboard": False},
    })


def test_log_names_the_weights_file_and_what_loaded(motion_dataset, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    state = create_model("tsm_tiny", num_classes=1000, num_frames=4).state_dict()
    state.pop("layer4.0.bn2.running_var")
    state["extra.weight"] = torch.zeros(1)
    torch.save(state, tmp_path / "imagenet.pth")
    lines = []
    run_training(tiny_run(motion_dataset, tmp_path / "run", "~/imagenet.pth"), log=lines.append)
    weights = [line for line in lines if line.startswith("weights:")]
    assert len(weights) == 1
    first = weights[0].splitlines()[0]
    assert first.startswith(f"weights: {tmp_path / 'imagenet.pth'}: torchvision weights: ")
    assert re.search(r"\d+ tensors loaded, 1 missing, 1 unexpected, 0 shape mismatches$", first)


def test_log_says_random_initialisation_without_weights(motion_dataset, tmp_path):
    lines = []
    run_training(tiny_run(motion_dataset, tmp_path / "run"), log=lines.append)
    assert "weights: random initialisation" in lines


def test_missing_weights_file_fails_first_naming_the_expanded_path(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    cfg = tiny_run(tmp_path / "no-data", tmp_path / "run", "~/.cache/torch/hub/checkpoints/resnet50-0676ba61.pth")
    expected = tmp_path / ".cache/torch/hub/checkpoints/resnet50-0676ba61.pth"
    with pytest.raises(FileNotFoundError, match=f"^model.pretrained: no weights file at {re.escape(str(expected))}$"):
        run_training(cfg)
