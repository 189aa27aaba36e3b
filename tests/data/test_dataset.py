"""Dataset items, bad-video handling, worker-independent randomness, synthetic data."""

import json

import numpy as np
import pytest
import torch

from vidaction.config import DataConfig
from vidaction.data.build import build_dataset, build_loader
from vidaction.data.dataset import collate_clips
from vidaction.data.synthetic import MOTION_CLASSES, REVERSAL_PAIRS, make_motion_dataset, render_motion_clip
from vidaction.data.video import VideoReader


def motion_cfg(root, **kw):
    base = dict(format="ucf101", root=str(root / "videos"), annotations=str(root / "annotations"), num_frames=4,
                input_size=24, resize_short=28, batch_size=4, num_workers=0, pin_memory=False)
    return DataConfig(**{**base, **kw})


def test_items_and_views(motion_dataset):
    train, classes = build_dataset(motion_cfg(motion_dataset), "train")
    assert classes == list(MOTION_CLASSES)
    item = train[0]
    assert item["clip"].shape == (3, 4, 24, 24) and item["label"] == 0
    test, _ = build_dataset(motion_cfg(motion_dataset, test_clips=2, test_crops=3), "val")
    assert test[0]["clip"].shape == (6, 3, 4, 24, 24)


def test_bad_video_is_an_item_not_a_crash(motion_dataset):
    dataset, _ = build_dataset(motion_cfg(motion_dataset), "train")
    victim = dataset.records[1].path
    original = open(victim, "rb").read()
    try:
        open(victim, "wb").write(b"garbage")
        item = dataset[1]
        assert item["clip"] is None and victim in item["error"]
        batch = collate_clips([dataset[0], item, dataset[2]])
        assert batch["clip"].shape[0] == 2 and batch["label"].tolist() == [0, 0] and len(batch["bad"]) == 1
    finally:
        open(victim, "wb").write(original)


def test_randomness_depends_on_epoch_not_on_workers(motion_dataset):
    cfg = motion_cfg(motion_dataset)
    dataset, _ = build_dataset(cfg, "train")
    a = dataset[3]["clip"]
    assert torch.equal(a, dataset[3]["clip"])
    assert not torch.equal(a, dataset[len(dataset) + 3]["clip"])
    batches = {}
    for workers in (0, 2):
        loader = build_loader(dataset, motion_cfg(motion_dataset, num_workers=workers), train=False)
        loader.sampler.set_epoch(1)
        batches[workers] = torch.cat([b["clip"] for b in loader])
    assert torch.equal(batches[0], batches[2])


def test_synthetic_layout_determinism_and_cache(tmp_path):
    root = make_motion_dataset(tmp_path / "m", videos_per_class=4, size=32, num_frames=6, seed=3)
    lines = (root / "annotations" / "classInd.txt").read_text().splitlines()
    assert lines[:2] == ["1 move_right", "2 move_left"]
    train = (root / "annotations" / "trainlist01.txt").read_text().split("\n")[0]
    assert train == "move_right/v_move_right_g01_c01.mp4 1"
    assert "move_right/v_move_right_g04_c01.mp4" in (root / "annotations" / "testlist01.txt").read_text()
    reader = VideoReader(root / "videos" / "move_right" / "v_move_right_g01_c01.mp4")
    assert reader.num_frames == 6 and reader.get_frames([0]).shape == (1, 32, 32, 3)
    stamp = (root / "manifest.json").stat().st_mtime_ns
    assert make_motion_dataset(tmp_path / "m", videos_per_class=4, size=32, num_frames=6, seed=3) == root
    assert (root / "manifest.json").stat().st_mtime_ns == stamp
    assert json.loads((root / "manifest.json").read_text())["seed"] == 3


@pytest.mark.parametrize("forward, backward", REVERSAL_PAIRS)
def test_reverse_class_is_the_forward_clip_played_backwards(forward, backward):
    a = render_motion_clip(forward, np.random.default_rng(5), 32, 8)
    b = render_motion_clip(backward, np.random.default_rng(5), 32, 8)
    assert np.array_equal(a[::-1], b)
    assert not np.array_equal(a, b)


def test_unknown_synthetic_class():
    with pytest.raises(ValueError, match="unknown motion class 'jump'"):
        render_motion_clip("jump", np.random.default_rng(0))
