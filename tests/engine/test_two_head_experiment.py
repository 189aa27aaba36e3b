"""EPIC-Kitchens-55 end to end on real JPEG frame folders: two-head model, verb/noun/action metrics.

EgoGesture's frame folders go through the same path (frame template, fps, eval subset)."""

import json

import numpy as np
from PIL import Image

from vidaction.config import config_from_dict
from vidaction.data.build import build_dataset
from vidaction.engine.experiment import run_training


def write_frames(folder, count, template, seed):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(1, count + 1):
        Image.fromarray(rng.integers(0, 255, (24, 32, 3), dtype=np.uint8)).save(folder / template.format(i))


def test_epic55_two_head_training_reports_action_accuracy(tmp_path, epic55):
    rows = [f'{i},{p},{p}_01,n,a,b,{1 + 20 * k},{20 + 20 * k},v,{k % 2},n,{k % 3},[],[]\n'
            for i, (p, k) in enumerate([(p, k) for p in ("P01", "P02") for k in range(3)])]
    annotations = epic55.write_annotations(tmp_path / "ann", rows)
    for participant in ("P01", "P02"):
        write_frames(tmp_path / "rgb" / participant / f"{participant}_01", 60, "frame_{:010d}.jpg", 0)
    cfg = config_from_dict({
        "data": {"format": "epic55", "root": str(tmp_path / "rgb"), "annotations": str(annotations),
                 "modality": "frames", "frame_template": "frame_{:010d}.jpg", "frame_fps": 60.0,
                 "val_participants": ["P02"], "num_frames": 4, "input_size": 16, "resize_short": 20,
                 "test_clips": 2, "test_crops": 10, "batch_size": 3, "num_workers": 0, "pin_memory": False},
        "model": {"name": "tsm_tiny", "dropout": 0.0},
        "optim": {"name": "adamw", "lr": 0.01},
        "schedule": {"epochs": 1, "warmup_epochs": 0},
        "train": {"out_dir": str(tmp_path / "run"), "progress": False, "tensorboard": False},
    })
    metrics = run_training(cfg)
    assert metrics["num_videos"] == 3
    assert {"verb_top1", "noun_top1", "action_top1", "action_top5"} <= set(metrics)
    classes = (tmp_path / "run" / "classes.txt").read_text().split()
    assert classes == ["verb:take", "verb:put", "noun:tap", "noun:cup", "noun:pan"]
    history = json.loads((tmp_path / "run" / "history.json").read_text())
    assert "val_action_top1" in history[-1]


def test_egogesture_frames_are_read_from_the_gesture_span(tmp_path, egogesture):
    labels = egogesture.make_tree(tmp_path, ("test",))
    write_frames(tmp_path / "images" / "Subject02" / "Scene1" / "Color" / "rgb1", 90, "{:06d}.jpg", 1)
    cfg = config_from_dict({"data": {"format": "egogesture", "root": str(tmp_path / "images"),
                                     "annotations": str(labels), "modality": "frames", "frame_template": "{:06d}.jpg",
                                     "frame_fps": 30.0, "eval_subset": "test", "num_frames": 4, "input_size": 16,
                                     "resize_short": 20, "flip": False, "num_workers": 0}})
    dataset, classes = build_dataset(cfg.data, "val")
    assert len(classes) == 83 and len(dataset) == 30
    item = dataset[0]
    assert item["clip"].shape == (3, 4, 16, 16) and item["label"] == 4
