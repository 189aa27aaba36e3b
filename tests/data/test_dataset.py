"""VideoClipDataset and collate_clips: sampled frames reach the item, bad videos become items,
randomness depends on (seed, epoch, index) only, decode cache, start/end sub-ranges."""

import pytest
import torch

from vidaction.data.build import ReaderFactory
from vidaction.data.dataset import EpochSampler, VideoClipDataset, collate_clips
from vidaction.data.records import VideoRecord
from vidaction.data.sampling import SegmentSampler
from vidaction.data.transforms import RandomHorizontalFlip, ThreeCrop


def keep(clip, label, rng):
    """Identity transform: items hold the raw ``uint8 (T, H, W, 3)`` frames."""
    return clip, label


def jitter(clip, label, rng):
    """A random transform, to see which generator an item used."""
    return clip.float() + float(rng.random()), label


class CountingFactory(ReaderFactory):
    """Counts how often whole videos are decoded."""

    def __init__(self):
        super().__init__("video")
        self.decoded = []

    def __call__(self, record):
        reader = super().__call__(record)
        original = reader.get_frames

        def get_frames(indices):
            self.decoded.append((record.path, len(list(indices))))
            return original(indices)

        reader.get_frames = get_frames
        return reader


@pytest.fixture
def videos(ucf_tree):
    return [VideoRecord(str(p), k) for k, p in enumerate(sorted((ucf_tree / "videos").rglob("*.mp4")))]


def test_item_holds_the_sampled_frames(videos, ramp):
    dataset = VideoClipDataset(videos, ReaderFactory("video"), SegmentSampler(4, train=False), keep)
    item = dataset[2]
    assert item["label"] == 2 and item["index"] == 2 and set(item) == {"clip", "label", "index"}
    assert item["clip"].shape == (4, 40, 48, 3) and item["clip"].dtype == torch.uint8
    assert ramp.ids(item["clip"]) == [3, 9, 15, 21]


def test_views_of_several_clips_and_crops(videos, ramp):
    two = VideoClipDataset(videos, ReaderFactory("video"), SegmentSampler(4, train=False), keep, num_clips=2)
    clip = two[0]["clip"]
    assert clip.shape == (2, 4, 40, 48, 3)
    assert [ramp.ids(view) for view in clip] == [[1, 7, 13, 19], [4, 10, 16, 22]]
    crops = VideoClipDataset(videos, ReaderFactory("video"), SegmentSampler(4, train=False),
                             lambda c, y, r: ThreeCrop(32)(c, y, r), num_clips=2)
    assert crops[0]["clip"].shape == (6, 4, 32, 32, 3)


def test_bad_videos_become_items_and_collate_drops_them(videos, tmp_path):
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(b"not a video" * 20)
    records = [videos[0], VideoRecord(str(tmp_path / "missing.mp4"), 1), VideoRecord(str(garbage), 2), videos[3]]
    dataset = VideoClipDataset(records, ReaderFactory("video"), SegmentSampler(4, train=False), keep)
    items = [dataset[i] for i in range(4)]
    assert items[1] == {"clip": None, "label": 1, "index": 1, "error": f"{tmp_path / 'missing.mp4'}: file not found"}
    assert items[2]["clip"] is None and items[2]["error"].startswith(f"{garbage}: cannot open as video")
    batch = collate_clips(items)
    assert batch["clip"].shape == (2, 4, 40, 48, 3)
    assert batch["label"].tolist() == [0, 3] and batch["index"].tolist() == [0, 3]
    assert batch["bad"] == [items[1]["error"], items[2]["error"]]
    empty = collate_clips(items[1:3])
    assert empty["clip"] is None and empty["label"].shape == (0,) and len(empty["bad"]) == 2


def test_randomness_is_a_function_of_seed_epoch_and_index(videos):
    dataset = VideoClipDataset(videos, ReaderFactory("video"), SegmentSampler(4, train=True), jitter, seed=3)
    n = len(dataset)
    first = dataset[1]["clip"]
    assert torch.equal(first, dataset[1]["clip"])
    assert not torch.equal(first, dataset[n + 1]["clip"])
    dataset.set_epoch(1)
    assert torch.equal(dataset[1]["clip"], dataset[n + 1]["clip"])
    other_seed = VideoClipDataset(videos, ReaderFactory("video"), SegmentSampler(4, train=True), jitter, seed=4)
    assert not torch.equal(first, other_seed[1]["clip"])


def test_persistent_workers_see_each_epoch(videos):
    dataset = VideoClipDataset(videos, ReaderFactory("video"), SegmentSampler(4, train=True), jitter)
    sampler = EpochSampler(torch.utils.data.SequentialSampler(dataset), len(dataset))
    loader = torch.utils.data.DataLoader(dataset, batch_size=3, sampler=sampler, num_workers=2,
                                         persistent_workers=True, collate_fn=collate_clips)
    epochs = []
    for epoch in (0, 1):
        sampler.set_epoch(epoch)
        epochs.append(torch.cat([batch["clip"] for batch in loader]))
    assert not torch.equal(epochs[0], epochs[1])
    in_process = torch.stack([dataset[len(dataset) + i]["clip"] for i in range(len(dataset))])
    assert torch.equal(epochs[1], in_process)


def test_decode_cache_decodes_each_video_once_and_evicts_least_recent(videos):
    factory = CountingFactory()
    dataset = VideoClipDataset(videos[:3], factory, SegmentSampler(4, train=True), keep, decode_cache=2)
    plain = VideoClipDataset(videos[:3], ReaderFactory("video"), SegmentSampler(4, train=True), keep)
    for index in (0, 1, 0, 1, 3, 4):  # 3, 4: videos 0 and 1 again in epoch 1, other frames
        assert torch.equal(dataset[index]["clip"], plain[index]["clip"])
    assert factory.decoded == [(videos[0].path, 24), (videos[1].path, 24)]
    dataset[2]
    dataset[0]
    assert [path for path, _ in factory.decoded] == [videos[0].path, videos[1].path, videos[2].path, videos[0].path]


def test_start_and_end_restrict_sampling(videos, ramp):
    part = VideoRecord(videos[0].path, 0, start=0.4, end=0.8)
    dataset = VideoClipDataset([part], ReaderFactory("video"), SegmentSampler(5, train=True), keep)
    for epoch in range(5):
        assert all(10 <= i < 20 for i in ramp.ids(dataset[epoch]["clip"]))
    empty = VideoClipDataset([VideoRecord(videos[0].path, 0, start=5.0)], ReaderFactory("video"),
                             SegmentSampler(5, train=False), keep)
    assert "no frames between 5.0 s and None s" in empty[0]["error"]


def test_clips_of_one_item_must_agree_on_the_label(videos):
    flip = VideoClipDataset(videos[:1], ReaderFactory("video"), SegmentSampler(4, train=True),
                            RandomHorizontalFlip(0.5, {0: 1, 1: 0}), num_clips=8)
    with pytest.raises(ValueError, match="different labels"):
        flip[0]
