"""build_dataset / build_loader from a DataConfig on tiny real trees (UCF101 videos, Something-Something v1 frames)."""

import pytest
import torch
import torch.distributed as dist
from PIL import Image
from torch.utils.data import DistributedSampler

from vidaction.config import ConfigError, DataConfig
from vidaction.data.build import build_dataset, build_dataset_for_records, build_loader, load_test_clip
from vidaction.data.errors import VideoDecodeError
from vidaction.data.records import VideoRecord


def ucf_cfg(root, **kw):
    base = dict(format="ucf101", root=str(root / "videos"), annotations=str(root / "annotations"), num_frames=4,
                input_size=24, resize_short=32, batch_size=2, num_workers=0, pin_memory=False)
    return DataConfig(**{**base, **kw})


def test_ucf101_train_and_val_datasets(ucf_tree):
    train, classes = build_dataset(ucf_cfg(ucf_tree), "train")
    assert classes == ["ApplyEyeMakeup", "Archery", "Bowling"] and len(train) == 6
    assert [r.label for r in train.records] == [0, 0, 1, 1, 2, 2]
    item = train[3]
    assert item["clip"].shape == (3, 4, 24, 24) and item["clip"].dtype == torch.float32 and item["label"] == 1
    val, _ = build_dataset(ucf_cfg(ucf_tree, test_clips=2, test_crops=3, sampling="dense", frame_stride=2), "val")
    assert len(val) == 3 and val[2]["clip"].shape == (6, 3, 4, 24, 24) and val[2]["label"] == 2


def test_train_loader_shuffles_by_seed_and_epoch_and_drops_the_last_batch(ucf_tree):
    cfg = ucf_cfg(ucf_tree, batch_size=4)
    dataset, _ = build_dataset(cfg, "train", seed=5)
    loader = build_loader(dataset, cfg, train=True)
    orders = []
    for epoch in (0, 1, 0):
        loader.sampler.set_epoch(epoch)
        batches = list(loader)
        assert [b["clip"].shape[0] for b in batches] == [4] and all(b["bad"] == [] for b in batches)
        orders.append(list(loader.sampler))
    assert orders[0] == orders[2] != orders[1]
    assert sorted(i % 6 for i in orders[1]) == list(range(6)) and min(orders[1]) >= 6
    val, _ = build_dataset(cfg, "val")
    batches = list(build_loader(val, ucf_cfg(ucf_tree, batch_size=2), train=False))
    assert [b["index"].tolist() for b in batches] == [[0, 1], [2]]


def test_loader_reports_bad_videos_with_workers(ucf_tree, tmp_path):
    cfg = ucf_cfg(ucf_tree, num_workers=2, batch_size=3)
    good = str(ucf_tree / "videos/Archery/v_Archery_g01_c01.mp4")
    records = [VideoRecord(good, 1), VideoRecord(str(tmp_path / "gone.mp4"), 0), VideoRecord(good, 1)]
    (batch,) = list(build_loader(build_dataset_for_records(cfg, records, train=False), cfg, train=False))
    assert batch["clip"].shape == (2, 3, 4, 24, 24) and batch["index"].tolist() == [0, 2]
    assert batch["bad"] == [f"{tmp_path / 'gone.mp4'}: file not found"]


def test_distributed_loader_uses_a_distributed_sampler(ucf_tree, tmp_path):
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1)
    try:
        cfg = ucf_cfg(ucf_tree)
        loader = build_loader(build_dataset(cfg, "train")[0], cfg, train=True, distributed=True)
        assert isinstance(loader.sampler.base, DistributedSampler) and loader.sampler.base.drop_last
        assert len(list(loader)) == 3
    finally:
        dist.destroy_process_group()


def test_something_v1_frames(tmp_path, ramp):
    (tmp_path / "something-something-v1-labels.csv").write_text(
        "Holding something\nPushing something from left to right\n")
    (tmp_path / "something-something-v1-train.csv").write_text(
        "100218;Pushing something from left to right\n7;Holding something\n")
    for video_id in ("100218", "7"):
        (tmp_path / "frames" / video_id).mkdir(parents=True)
        for i, image in enumerate(ramp.frames(10, 32, 40)):
            Image.fromarray(image).save(tmp_path / "frames" / video_id / f"{i + 1:05d}.jpg")
    cfg = DataConfig(format="sthv1", modality="frames", root=str(tmp_path / "frames"), annotations=str(tmp_path),
                     num_frames=4, input_size=24, resize_short=28, flip=False)
    dataset, classes = build_dataset(cfg, "train")
    assert classes[1] == "Pushing something from left to right"
    item = dataset[0]
    assert item["clip"].shape == (3, 4, 24, 24) and item["label"] == 1
    with pytest.raises(ConfigError, match="set data.modality=frames"):
        build_dataset(DataConfig(**{**cfg.__dict__, "modality": "video"}), "train")


def test_load_test_clip(ucf_tree, tmp_path):
    cfg = ucf_cfg(ucf_tree, test_crops=3)
    views = load_test_clip(cfg, str(ucf_tree / "videos/Bowling/v_Bowling_g03_c01.mp4"))
    assert views.shape == (3, 3, 4, 24, 24)
    assert load_test_clip(ucf_cfg(ucf_tree), str(ucf_tree / "videos/Bowling/v_Bowling_g03_c01.mp4")).shape[0] == 1
    with pytest.raises(VideoDecodeError, match="nothing.mp4: file not found"):
        load_test_clip(cfg, str(tmp_path / "nothing.mp4"))


def test_flip_pairs_swap_labels_in_training(ucf_tree):
    cfg = ucf_cfg(ucf_tree, flip_label_pairs=[["ApplyEyeMakeup", "Archery"]])
    dataset, _ = build_dataset(cfg, "train")
    labels = {dataset[len(dataset) * epoch]["label"] for epoch in range(12)}
    assert labels == {0, 1}
    assert all(dataset[4 + 6 * epoch]["label"] == 2 for epoch in range(4))
