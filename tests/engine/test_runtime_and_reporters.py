"""The run's device, process group and folder, and the reporters of the training loop."""

import json

import torch

from vidaction.config import ExperimentConfig, TrainConfig, load_config
from vidaction.engine import distributed
from vidaction.engine.evaluators import ClassificationEvaluator, DetectionEvaluator, ObjectiveEvaluator
from vidaction.engine.reporters import JsonlReporter, PictureReporter, default_reporters
from vidaction.engine.runtime import Runtime, distributed_session, prepare_run_folder, resolve_device


def test_device_is_resolved_in_one_place(monkeypatch):
    monkeypatch.setenv("LOCAL_RANK", "1")
    expected = torch.device("cuda", 1) if torch.cuda.is_available() else torch.device("cpu")
    assert resolve_device("auto") == expected
    assert resolve_device("cpu") == torch.device("cpu")
    runtime = Runtime.from_config(TrainConfig(device="cpu", amp=True, channels_last=True))
    assert not runtime.use_amp and not runtime.channels_last  # CUDA-only switches stay off on the CPU


def test_a_session_alone_joins_no_group(monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "1")
    with distributed_session():
        with distributed_session():
            assert not distributed.is_distributed() and distributed.world_size() == 1


def test_run_folder_holds_the_resolved_config_and_classes(tmp_path):
    cfg = ExperimentConfig()
    out = prepare_run_folder(tmp_path / "run", cfg, ["a", "b"])
    assert (out / "classes.txt").read_text() == "a\nb\n"
    assert load_config(out / "config.yaml") == cfg


def test_reporters_write_steps_epochs_and_pictures(tmp_path):
    reporters = default_reporters(tmp_path, TrainConfig(tensorboard=False), enabled=True)
    assert [type(r).__name__ for r in reporters] == ["ConsoleReporter", "JsonlReporter", "PictureReporter"]
    assert [type(r).__name__ for r in default_reporters(tmp_path, TrainConfig(), enabled=False)] == ["ConsoleReporter"]
    jsonl = JsonlReporter(tmp_path)
    jsonl.step(3, loss=0.5, lr=0.1)
    history = [{"epoch": 1, "train_loss": 1.0, "val_loss": 0.7}, {"epoch": 2, "train_loss": 0.5, "val_loss": 0.6}]
    jsonl.epoch(2, history[-1])
    lines = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [(r["kind"], r["step"]) for r in lines] == [("train_step", 3), ("epoch", 2)] and lines[0]["loss"] == 0.5
    PictureReporter(tmp_path).end(history, ObjectiveEvaluator(objective=None))
    assert json.loads((tmp_path / "history.json").read_text()) == history and (tmp_path / "curves.png").is_file()


def test_evaluators_name_the_metric_best_keeps():
    assert (ClassificationEvaluator.key, ClassificationEvaluator.maximize) == ("top1", True)
    assert (ObjectiveEvaluator.key, ObjectiveEvaluator.maximize) == ("loss", False)
    assert (DetectionEvaluator.key, DetectionEvaluator.maximize) == ("average_mAP", True)
