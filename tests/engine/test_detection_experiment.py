"""Detection runs end to end on tiny synthetic untrimmed videos: features and frames (I3D) input, the
mAP metric, test and two-stream fusion, resume, and the errors a user meets first."""

import json
from dataclasses import replace

import numpy as np
import pytest
import torch

from vidaction.config import ConfigError, DetectionExperimentConfig, config_from_dict
from vidaction.engine.checkpoint import load_checkpoint
from vidaction.engine.loop import TooManyBadSamples, TrainingLoop
from vidaction.engine.experiment import run_test, run_training
from vidaction.engine.tasks.detection import load_trained_detector
from vidaction.evaluation.detection_results import read_results_json
from vidaction.models.detector import TemporalDetector


def test_feature_detector_trains_tests_and_resumes(detection_dataset, tmp_path, monkeypatch, feature_config):
    # 48-step windows: 6 of the 17 training windows get AFSD's boundary-contrastive augmentation.
    cfg = feature_config(detection_dataset, tmp_path / "run", window=48)
    assert isinstance(cfg, DetectionExperimentConfig)
    metrics = run_training(cfg)
    assert {"mAP@0.1", "mAP@0.3", "mAP@0.5", "average_mAP", "best_average_mAP"} <= metrics.keys()
    assert 0.0 <= metrics["average_mAP"] <= 1.0 and metrics["num_videos"] == 3 and metrics["epochs"] == 2
    for name in ("last.pt", "best.pt", "config.yaml", "classes.txt", "predictions.json", "per_class_ap.json",
                 "history.json", "curves.png", "metrics.jsonl"):
        assert (tmp_path / "run" / name).is_file(), name
    logged = (tmp_path / "run" / "metrics.jsonl").read_text()
    for term in ("loc", "cls", "refined_loc", "refined_cls", "quality", "start", "end", "contrastive"):
        assert f'"{term}"' in logged
    classes = (tmp_path / "run" / "classes.txt").read_text().split()
    assert len(read_results_json(tmp_path / "run" / "predictions.json", classes)) == metrics["num_detections"]

    tested = run_test(replace(cfg, train=replace(cfg.train, checkpoint=str(tmp_path / "run" / "last.pt"))))
    assert tested["average_mAP"] == pytest.approx(metrics["average_mAP"]) and tested["streams"] == 1
    fused = run_test(replace(cfg, train=replace(cfg.train, checkpoint=str(tmp_path / "run" / "last.pt")),
                                       test=replace(cfg.test, fuse_checkpoint=str(tmp_path / "run" / "last.pt"))))
    assert fused["streams"] == 2 and fused["average_mAP"] == pytest.approx(metrics["average_mAP"])

    straight = load_checkpoint(tmp_path / "run" / "last.pt")
    first = feature_config(detection_dataset, tmp_path / "resumed", epochs=2, window=48)
    original = TrainingLoop.train_one_epoch

    def stop_in_the_second_epoch(self, epoch):
        if epoch == 1:
            raise KeyboardInterrupt
        return original(self, epoch)

    monkeypatch.setattr(TrainingLoop, "train_one_epoch", stop_in_the_second_epoch)
    with pytest.raises(KeyboardInterrupt):
        run_training(first)
    assert load_checkpoint(tmp_path / "resumed" / "interrupted.pt")["epoch"] == 1
    monkeypatch.setattr(TrainingLoop, "train_one_epoch", original)
    resumed = run_training(replace(first, train=replace(first.train,
                                                       resume=str(tmp_path / "resumed" / "last.pt"))))
    again = load_checkpoint(tmp_path / "resumed" / "last.pt")
    assert resumed["average_mAP"] == pytest.approx(metrics["average_mAP"])
    for key, value in straight["model"].items():
        assert torch.equal(value, again["model"][key]), key


def test_detector_learns_its_training_videos(detection_dataset, tmp_path, feature_config):
    def fit(epochs, lr):
        cfg = feature_config(detection_dataset, tmp_path / f"e{epochs}", epochs=epochs, val_subset="val")
        return run_training(replace(cfg, optim=replace(cfg.optim, lr=lr)))

    untrained, trained = fit(1, 1e-7), fit(6, 3e-3)
    assert trained["mAP@0.3"] > max(untrained["mAP@0.3"], 0.0) + 0.05


def test_frame_mode_with_a_tiny_i3d(detection_dataset, tmp_path):
    cfg = config_from_dict({
        "task": "detection",
        "data": {"annotations": str(detection_dataset / "annotations"), "root": str(detection_dataset / "videos"),
                 "class_names": str(detection_dataset / "annotations" / "classes.txt"), "input": "frames",
                 "fps": 5.0, "resize": 40, "crop": 32, "window": 64, "train_stride": 32, "test_stride": 64,
                 "batch_size": 2, "num_workers": 0, "pin_memory": False},
        "model": {"backbone": "inception_i3d_tiny", "channels": 32, "proposal_channels": 16, "frame_channels": 16,
                  "num_levels": 3, "norm_groups": 8},
        "schedule": {"epochs": 1},
        "train": {"out_dir": str(tmp_path / "frames"), "progress": False, "tensorboard": False},
        "test": {"tiou_thresholds": [0.5]},
    })
    metrics = run_training(cfg)
    assert "mAP@0.5" in metrics
    model, loaded_cfg, classes = load_trained_detector(tmp_path / "frames" / "best.pt")
    assert isinstance(model, TemporalDetector) and model.backbone is not None and len(classes) == 5
    frozen = [name for name, p in model.named_parameters() if not p.requires_grad]
    assert frozen and all(name.startswith("backbone.") for name in frozen)
    assert any(name.startswith("backbone.logits.") for name in frozen)
    model.train()
    assert not any(m.training for m in model.backbone.modules() if isinstance(m, torch.nn.BatchNorm3d))


def test_wrong_feature_files_and_options_are_named(detection_dataset, tmp_path, feature_config):
    with pytest.raises(ConfigError, match=r"video_validation_0000001\.json: field 'num_channels': the sidecar says 32 "
                                          r"but data\.feature_channels is 64"):
        run_training(feature_config(detection_dataset, tmp_path / "a", feature_channels=64))
    with pytest.raises(ConfigError, match="unknown config key data.windw; did you mean 'data.window'"):
        config_from_dict({"task": "detection"}, ["data.windw=3"])
    with pytest.raises(ConfigError, match="data.input=features needs data.feature_channels"):
        config_from_dict({"task": "detection", "data": {"input": "features"}})
    with pytest.raises(ConfigError, match="task must be one of"):
        config_from_dict({"task": "segmentation"})
    broken = tmp_path / "broken"
    broken.mkdir()
    for path in (detection_dataset / "features").iterdir():
        target = broken / path.name
        target.write_bytes(path.read_bytes())
    first = sorted(broken.glob("*.npy"))[0]
    np.save(first, np.zeros((3, 32), dtype=np.float32))
    with pytest.raises(TooManyBadSamples, match=rf"{first.stem}: field 'length': 3 feature steps, expected"):
        run_training(feature_config(detection_dataset, tmp_path / "b", root=str(broken),
                                              max_bad_fraction=0.0))
    sidecar = json.loads(first.with_suffix(".json").read_text())
    assert sidecar["video_id"] == first.stem
