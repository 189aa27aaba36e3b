"""DetectionWindowDataset: AFSD's windowing, the item format and its seconds mapping, frames / flow /
features sources, ActivityNet fixed length, bad input, deterministic augmentation, collate."""

import itertools
import json

import numpy as np
import pytest
import torch

from vidaction.data.dataset import EpochSampler
from vidaction.data.detection_dataset import (
    DetectionAnnotationError,
    DetectionWindowDataset,
    collate_detection,
    plan_test_windows,
    plan_training_windows,
    steps_to_seconds,
    window_starts,
)
from vidaction.data.detection_sources import FeatureFileError, FeatureSource, FrameSource
from vidaction.data.errors import VideoDecodeError
from vidaction.data.records import DetectionVideo
from vidaction.data.writer import write_video

ITEM_KEYS = {"input", "mask", "segments", "labels", "video_id", "window_start", "seconds_per_step", "time_offset",
             "index"}


def feature_video(tmp_path, video_id, steps, channels=6, fps=5.0, offset=0.1, segments=(), labels=(),
                  duration="auto", sidecar=True, values=None):
    """A ``(steps, channels)`` feature file whose row ``i`` is ``i`` (or ``values``) and its record."""
    path = tmp_path / f"{video_id}.npy"
    data = np.repeat(np.arange(steps, dtype=np.float32)[:, None], channels, axis=1) if values is None else values
    np.save(path, data)
    if sidecar:
        path.with_suffix(".json").write_text(json.dumps({"feature_fps": fps, "time_offset": offset}))
    duration = steps / fps if duration == "auto" else duration
    return DetectionVideo(video_id, np.array(segments, dtype=float).reshape(-1, 2), labels, duration=duration,
                          path=str(path))


@pytest.mark.parametrize("steps, window, stride", [(100, 40, 30), (100, 40, 20), (40, 40, 10), (25, 40, 10),
                                                   (1000, 256, 128), (257, 256, 30)])
def test_windows_cover_every_step_and_the_last_is_end_aligned(steps, window, stride):
    starts = window_starts(steps, window, stride)
    covered = np.zeros(steps, dtype=bool)
    for start in starts:
        covered[start:start + window] = True
    assert covered.all()
    assert starts == sorted(set(starts)) and starts[0] == 0
    assert starts[-1] == max(steps - window, 0)
    regular = starts[:-1] if len(starts) > 1 and starts[-1] - starts[-2] != stride else starts
    assert all(b - a == stride for a, b in itertools.pairwise(regular))
    assert all(start + window <= max(steps, window) for start in starts)


def test_window_starts_follow_afsd():
    assert window_starts(100, 40, 30) == [0, 30, 60]
    assert window_starts(100, 40, 25) == [0, 25, 50, 60]
    assert window_starts(30, 40, 30) == [0]


def test_training_windows_keep_whole_instances_and_half_covered_ones_clipped():
    # windows [0, 40], [30, 70], [60, 100]
    segments = np.array([[5.0, 20.0], [32.0, 46.0], [50.0, 66.0], [75.0, 95.0]])
    labels = np.array([0, 1, 2, 3])
    windows = plan_training_windows(segments, labels, 100, 40, 30, min_overlap=0.5)
    assert [w[0] for w in windows] == [0, 30, 60]
    start, segs, labs = windows[0]
    # [32, 46] has 8 of 14 inside [0, 40]: kept, clipped; [50, 66] is outside
    assert labs.tolist() == [0, 1] and np.allclose(segs, [[5, 20], [32, 40]])
    start, segs, labs = windows[1]
    assert labs.tolist() == [1, 2] and np.allclose(segs, [[2, 16], [20, 36]])
    start, segs, labs = windows[2]
    # [50, 66]: 6 of 16 inside [60, 100] < 0.5: dropped
    assert labs.tolist() == [3] and np.allclose(segs, [[15, 35]])
    for start, segs, labs in windows:
        whole = (segments[:, 0] >= start) & (segments[:, 1] <= start + 40)
        assert whole.any()
        assert ((segs >= 0) & (segs <= 40)).all()


def test_training_windows_skip_windows_without_a_whole_instance():
    segments = np.array([[10.0, 90.0]])  # longer than any window
    assert plan_training_windows(segments, np.array([0]), 100, 40, 30) == []
    short = plan_training_windows(np.array([[2.0, 2.0]]), np.array([1]), 30, 40, 30)
    assert len(short) == 1 and short[0][2].tolist() == [1]


def test_test_windows_keep_all_overlapping_instances_unclipped():
    segments = np.array([[5.0, 20.0], [35.0, 75.0], [95.0, 99.0]])
    windows = plan_test_windows(segments, np.array([0, 1, 2]), 100, 40, 30)
    assert [w[0] for w in windows] == [0, 30, 60]
    assert np.allclose(windows[0][1], [[5, 20], [35, 75]])
    assert np.allclose(windows[1][1], [[5, 45]])
    assert np.allclose(windows[2][1], [[-25, 15], [35, 39]])


def test_feature_items_and_the_seconds_round_trip(tmp_path):
    segments = [[1.3, 4.1], [9.9, 14.5], [20.0, 23.7]]
    video = feature_video(tmp_path, "v1", 125, segments=segments, labels=[2, 0, 1])
    dataset = DetectionWindowDataset([video], FeatureSource(6), num_classes=3, train=False, window=40, stride=20)
    assert len(dataset) == len(window_starts(125, 40, 20)) == 6
    item = dataset[5]
    assert set(item) == ITEM_KEYS
    assert item["input"].shape == (6, 40) and item["input"].dtype == torch.float32
    assert item["window_start"] == 85 and item["mask"].all()
    assert torch.equal(item["input"][0], torch.arange(85, 125, dtype=torch.float32))
    assert item["seconds_per_step"] == pytest.approx(0.2) and item["time_offset"] == pytest.approx(0.1)
    found = {}
    for i in range(len(dataset)):
        item = dataset[i]
        for seg, label in zip(item["segments"].numpy(), item["labels"].tolist()):
            seconds = steps_to_seconds(seg, item["window_start"], item["seconds_per_step"], item["time_offset"])
            found.setdefault(label, []).append(seconds)
    for (start, end), label in zip(segments, [2, 0, 1]):
        assert any(np.allclose(s, [start, end], atol=1e-5) for s in found[label])


def test_short_video_is_padded_and_masked(tmp_path):
    video = feature_video(tmp_path, "short", 30, segments=[[1.0, 2.0]], labels=[0])
    for train in (True, False):
        item = DetectionWindowDataset([video], FeatureSource(6), 1, train=train, window=40)[0]
        assert item["input"].shape == (6, 40) and item["mask"].sum() == 30 and not item["mask"][30:].any()
        assert (item["input"][:, 30:] == 0).all()


def test_training_items_clip_to_the_window(tmp_path):
    video = feature_video(tmp_path, "clip", 200, fps=10.0, offset=0.0, segments=[[1.0, 3.0], [3.5, 5.5]],
                          labels=[0, 1])
    dataset = DetectionWindowDataset([video], FeatureSource(6), 2, train=True, window=40, stride=10)
    assert len(dataset) > 0
    for i in range(len(dataset)):
        item = dataset[i]
        assert ((item["segments"] >= 0) & (item["segments"] <= 40)).all()


def test_fixed_length_resamples_features_linearly(tmp_path):
    # 50 steps at 5 fps centred at 0.1 + i / 5: the value of step i is its time in seconds
    times = 0.1 + np.arange(50) / 5.0
    values = np.repeat(times[:, None].astype(np.float32), 4, axis=1)
    video = feature_video(tmp_path, "anet", 50, channels=4, values=values, segments=[[2.0, 6.0]], labels=[0])
    dataset = DetectionWindowDataset([video], FeatureSource(4), 1, train=False, fixed_length=16)
    item = dataset[0]
    assert item["input"].shape == (4, 16) and item["mask"].all() and len(dataset) == 1
    step = 10.0 / 16
    centres = (np.arange(16) + 0.5) * step
    expected = np.clip(centres, times[0], times[-1])
    assert np.allclose(item["input"][0].numpy(), expected, atol=1e-5)
    assert item["seconds_per_step"] == pytest.approx(step) and item["time_offset"] == pytest.approx(step / 2)
    seconds = steps_to_seconds(item["segments"].numpy(), 0, item["seconds_per_step"], item["time_offset"])
    assert np.allclose(seconds, [[2.0, 6.0]])


def test_fixed_length_training_skips_videos_without_instances(tmp_path):
    empty = feature_video(tmp_path, "empty", 50, channels=4)
    full = feature_video(tmp_path, "full", 50, channels=4, segments=[[1.0, 2.0]], labels=[0])
    dataset = DetectionWindowDataset([empty, full], FeatureSource(4), 1, train=True, fixed_length=32)
    assert len(dataset) == 1 and dataset.videos_without_windows == ["empty"]
    assert len(DetectionWindowDataset([empty, full], FeatureSource(4), 1, train=False, fixed_length=32)) == 2


def test_spatial_features_keep_their_map(tmp_path):
    path = tmp_path / "map.npy"
    np.save(path, np.random.default_rng(0).random((8, 30, 2, 3)).astype(np.float32))
    video = DetectionVideo("map", [[0.5, 1.5]], [0], duration=3.0, path=str(path))
    item = DetectionWindowDataset([video], FeatureSource(8, feature_fps=10.0), 1, train=False, window=16,
                                  stride=8)[1]
    assert item["input"].shape == (8, 16, 2, 3)
    assert torch.allclose(item["input"], torch.from_numpy(np.load(path)[:, 8:24]))


def test_feature_file_errors_name_the_video_and_field(tmp_path):
    long = feature_video(tmp_path, "vlong", 80, duration=10.0)
    with pytest.raises(FeatureFileError, match=r"video vlong: field 'length': 80 feature steps, expected 50"):
        DetectionWindowDataset([long], FeatureSource(6), 1, train=False)
    wide = feature_video(tmp_path, "vwide", 50, channels=5)
    with pytest.raises(FeatureFileError, match=r"video vwide: field 'channels': 5 channels"):
        DetectionWindowDataset([wide], FeatureSource(6), 1, train=False)
    cube = tmp_path / "cube.npy"
    np.save(cube, np.zeros((4, 5, 6), dtype=np.float32))
    with pytest.raises(FeatureFileError, match=r"video cube: field 'shape'"):
        DetectionWindowDataset([DetectionVideo("cube", [], [], path=str(cube))], FeatureSource(6, 5.0), 1, False)
    missing = DetectionVideo("gone", [], [], duration=3.0, path=str(tmp_path / "gone.npy"))
    with pytest.raises(FeatureFileError, match=r"video gone: field 'path': feature file not found"):
        DetectionWindowDataset([missing], FeatureSource(6, 5.0), 1, train=False)
    bare = feature_video(tmp_path, "bare", 50, sidecar=False)
    with pytest.raises(FeatureFileError, match=r"video bare: field 'feature_fps'"):
        DetectionWindowDataset([bare], FeatureSource(6), 1, train=False)
    other = feature_video(tmp_path, "other", 50)
    with pytest.raises(FeatureFileError, match=r"video other: field 'feature_fps': the sidecar says 5.0"):
        DetectionWindowDataset([other], FeatureSource(6, feature_fps=25 / 4), 1, train=False)


def test_length_tolerance_allows_the_extractors_dropped_windows(tmp_path):
    video = feature_video(tmp_path, "tail", 44, duration=10.0)  # 6 short of 50
    with pytest.raises(FeatureFileError, match="field 'length'"):
        DetectionWindowDataset([video], FeatureSource(6), 1, train=False)
    sidecar = {"feature_fps": 5.0, "feature_times": [0.4 + i / 5 for i in range(44)], "window": 16, "stride": 4}
    (tmp_path / "tail.json").write_text(json.dumps(sidecar))
    item = DetectionWindowDataset([video], FeatureSource(6), 1, train=False)[0]
    assert item["time_offset"] == pytest.approx(0.4)


def test_annotation_errors_name_the_video_and_field(tmp_path):
    cases = [([[1.0, 2.0], [4.0, 3.0]], [0, 0], r"field 'segments\[1\]': end 3.0 s before start 4.0 s"),
             ([[1.0, 14.0]], [0], r"field 'segments\[0\]': \[1.0, 14.0\] s outside the video \[0, 10\] s"),
             ([[10.5, 10.8]], [0], r"field 'segments\[0\]'"),
             ([[1.0, 2.0], [3.0, 4.0]], [0, 3], r"field 'labels\[1\]': label 3 outside 0..1 \(2 classes\)"),
             ([[np.nan, 2.0]], [0], r"field 'segments\[0\]'")]
    for segments, labels, message in cases:
        video = feature_video(tmp_path, "bad", 50, segments=segments, labels=labels)
        with pytest.raises(DetectionAnnotationError, match=message) as info:
            DetectionWindowDataset([video], FeatureSource(6), 2, train=True, window=16, stride=8, outside="error")
        assert "video bad" in str(info.value) and info.value.video_id == "bad"


def test_instances_beyond_the_video_are_clipped_or_dropped_and_listed(tmp_path):
    # THUMOS14's published annotations hold instances starting after their video ends.
    video = feature_video(tmp_path, "long", 50, segments=[[1.0, 2.0], [8.0, 14.0], [10.5, 10.8]], labels=[0, 1, 0])
    dataset = DetectionWindowDataset([video], FeatureSource(6), 2, train=False, window=64)
    item = dataset[0]
    seconds = steps_to_seconds(item["segments"].numpy(), 0, item["seconds_per_step"], item["time_offset"])
    assert np.allclose(seconds, [[1.0, 2.0], [8.0, 10.0]]) and item["labels"].tolist() == [0, 1]
    assert [note.split(": ")[-1] for note in dataset.outside_instances] == ["clipped", "dropped"]
    assert "video long segments[2] [10.5, 10.8] s outside the video [0, 10] s" in dataset.outside_instances[1]


def test_bounds_within_the_tolerance_are_clipped(tmp_path):
    video = feature_video(tmp_path, "edge", 50, segments=[[-0.5, 10.6]], labels=[0])
    item = DetectionWindowDataset([video], FeatureSource(6), 1, train=False, window=64)[0]
    seconds = steps_to_seconds(item["segments"].numpy(), 0, item["seconds_per_step"], item["time_offset"])
    assert np.allclose(seconds, [[0.0, 10.0]])


def test_bad_media_skipped_at_build_and_at_read(tmp_path):
    good = feature_video(tmp_path, "good", 50, segments=[[1.0, 2.0]], labels=[0])
    corrupt = feature_video(tmp_path, "corrupt", 50, segments=[[1.0, 2.0]], labels=[0])
    missing = DetectionVideo("missing", [[1.0, 2.0]], [0], duration=10.0, path=str(tmp_path / "missing.npy"))
    with pytest.raises(FeatureFileError, match="video missing"):
        DetectionWindowDataset([good, missing], FeatureSource(6), 1, train=False, window=64)
    dataset = DetectionWindowDataset([good, missing, corrupt], FeatureSource(6), 1, train=False, window=64,
                                     skip_bad=True)
    assert len(dataset) == 2 and len(dataset.bad_videos) == 1 and "video missing" in dataset.bad_videos[0]
    (tmp_path / "corrupt.npy").write_bytes(b"garbage")
    items = [dataset[0], dataset[1]]
    assert items[1]["input"] is None and "video corrupt" in items[1]["error"]
    batch = collate_detection(items)
    assert batch["input"].shape == (1, 6, 64) and batch["video_id"] == ["good"]
    assert batch["bad"] == [items[1]["error"]]


def test_collate_stacks_inputs_and_keeps_targets_as_lists(tmp_path):
    videos = [feature_video(tmp_path, f"c{k}", steps, segments=[[1.0, 2.0 + k]], labels=[k])
              for k, steps in enumerate([60, 64, 80])]
    dataset = DetectionWindowDataset(videos, FeatureSource(6), 3, train=False, window=64)
    assert [(w.video, w.start) for w in dataset.windows] == [(0, 0), (1, 0), (2, 0), (2, 16)]
    batch = collate_detection([dataset[i] for i in (0, 1, 3)])
    assert batch["input"].shape == (3, 6, 64) and batch["mask"].shape == (3, 64)
    assert batch["mask"].sum(1).tolist() == [60, 64, 64]
    assert [s.shape for s in batch["segments"]] == [(1, 2)] * 3 and [lab.tolist() for lab in batch["labels"]] == [
        [0], [1], [2]]
    assert batch["window_start"].tolist() == [0, 0, 16] and batch["window_start"].dtype == torch.long
    assert batch["seconds_per_step"].dtype == torch.float64 and batch["bad"] == []
    empty = collate_detection([{**dataset[0], "input": None, "mask": None, "error": "x"}])
    assert empty["input"] is None and empty["mask"] is None and empty["bad"] == ["x"]



def test_boundary_contrast_adds_an_augmented_copy_and_keeps_the_plain_item(tmp_path):
    # 5 fps: the instances span steps [10, 40] and [60, 65]; the shortest (5 steps) sets the paste length.
    video = feature_video(tmp_path, "aug", 100, offset=0.0, segments=[[2.0, 8.0], [12.0, 13.0]], labels=[0, 1])
    plain = DetectionWindowDataset([video], FeatureSource(6), 2, train=True, window=80, stride=20)
    augmenting = DetectionWindowDataset([video], FeatureSource(6), 2, train=True, window=80, stride=20,
                                        boundary_contrast=True)
    assert augmenting.paste_lengths == [5]
    items = [augmenting[i] for i in range(len(augmenting))]
    for i, item in enumerate(items):
        assert set(item) == ITEM_KEYS | {"contrast"}
        assert all(torch.equal(item[key], plain[i][key]) for key in ("input", "mask", "segments"))
    found = [item for item in items if item["contrast"] is not None]
    assert found
    for item in found:
        augmented, proposals = item["contrast"]
        assert augmented.shape == item["input"].shape and not torch.equal(augmented, item["input"])
        halves = float(proposals[0, 1] - proposals[0, 0] + proposals[1, 1] - proposals[1, 0])
        lengths = (item["segments"][:, 1] - item["segments"][:, 0]).tolist()
        assert any(halves == pytest.approx(length) for length in lengths if length > 10)  # an instance split
    batch = collate_detection(items)
    x, mask, proposals = batch["contrast"]
    assert x.shape == (len(found), 6, 80) and mask.shape == (len(found), 80) and proposals.shape == (len(found), 3, 2)
    assert collate_detection([plain[0]])["contrast"] is None
    test_set = DetectionWindowDataset([video], FeatureSource(6), 2, train=False, window=80, boundary_contrast=True)
    assert "contrast" not in test_set[0]

@pytest.fixture
def ramp_video(tmp_path, ramp):
    """40 frames at 10 fps, 40x48, frame ``i`` gray level ``5 i``, and its record (4 s)."""
    path = write_video(tmp_path / "ramp.mp4", ramp.frames(40, 40, 48), fps=10)
    return DetectionVideo("ramp", [[0.5, 1.5], [2.0, 3.0]], [0, 1], duration=None, path=str(path))


def test_frame_items_resample_resize_crop_and_normalise(ramp_video):
    source = FrameSource(fps=5.0, resize=32, crop=24)
    dataset = DetectionWindowDataset([ramp_video], source, 2, train=False, window=8, stride=5)
    assert [w.start for w in dataset.windows] == [0, 5, 10, 12]
    item = dataset[3]
    assert item["input"].shape == (3, 8, 24, 24) and item["mask"].sum() == 8
    # steps 12..19 at 5 fps are frames 24, 26, ..., 38; x / 255 * 2 - 1
    levels = (item["input"].mean(dim=(0, 2, 3)) + 1) / 2 * 255 / 5
    assert np.allclose(levels.numpy(), np.arange(24, 40, 2), atol=0.3)
    assert item["seconds_per_step"] == pytest.approx(0.2) and item["time_offset"] == 0.0


def test_frame_training_randomness_depends_on_seed_epoch_and_index(ramp_video, ramp):
    textured = ramp.frames(40, 40, 48).astype(np.int16)
    textured += (np.indices((40, 48)).sum(0) % 7 * 20).astype(np.int16)[None, :, :, None]
    path = write_video(ramp_video.path.replace("ramp", "texture"), np.clip(textured, 0, 255).astype(np.uint8), fps=10)
    video = DetectionVideo("tex", [[0.5, 1.5]], [0], duration=4.0, path=str(path))

    def build(seed):
        return DetectionWindowDataset([video], FrameSource(fps=10.0, resize=40, crop=24), 1, train=True,
                                      window=16, stride=8, seed=seed)

    a, b = build(1), build(1)
    assert torch.equal(a[0]["input"], b[0]["input"])
    views = {build(1)[len(a) * epoch]["input"].sum().item() for epoch in range(6)}
    assert len(views) > 1
    a.set_epoch(3)
    assert torch.equal(a[0]["input"], b[3 * len(b)]["input"])
    sampler = EpochSampler(range(len(a)), len(a))
    sampler.set_epoch(2)
    assert list(sampler) == [2 * len(a) + i for i in range(len(a))]


def test_unreadable_video_is_reported(tmp_path):
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(b"not a video" * 10)
    video = DetectionVideo("garbage", [[0.5, 1.0]], [0], path=str(garbage))
    with pytest.raises(VideoDecodeError, match="garbage.mp4"):
        DetectionWindowDataset([video], FrameSource(), 1, train=False)
    dataset = DetectionWindowDataset([video], FrameSource(), 1, train=False, skip_bad=True)
    assert len(dataset) == 0 and "cannot open as video" in dataset.bad_videos[0]


def flow_file(tmp_path, dx=4.0, dy=-2.0, flows=9, size=(20, 24)):
    """A stored-flow ``.npy`` (uniform ``(dx, dy)``) with its marker, as ``extract-flow`` writes it."""
    path = tmp_path / "flow.npy"
    field = np.broadcast_to(np.array([dx, dy], dtype=np.float16)[None, :, None, None], (flows, 2, *size))
    np.save(path, np.ascontiguousarray(field))
    marker = {"fps": 10.0, "num_flows": flows, "height": size[0], "width": size[1], "bound": 20.0, "format": "npy"}
    path.with_suffix(".json").write_text(json.dumps(marker))
    return DetectionVideo("flowvid", [[0.2, 0.6]], [0], path=str(path))


def test_flow_stream_is_normalised_and_a_flip_negates_dx(tmp_path):
    video = flow_file(tmp_path)
    test_item = DetectionWindowDataset([video], FrameSource(fps=10.0, stream="flow", resize=0, crop=16), 1,
                                       train=False, window=16)[0]
    assert test_item["input"].shape == (2, 16, 16, 16) and test_item["mask"].sum() == 10
    assert torch.allclose(test_item["input"][0, :10], torch.tensor(0.2)) and torch.allclose(
        test_item["input"][1, :10], torch.tensor(-0.1))
    signs = set()
    for epoch in range(8):
        dataset = DetectionWindowDataset([video], FrameSource(fps=10.0, stream="flow", resize=0, crop=16), 1,
                                         train=True, window=16, seed=epoch)
        item = dataset[0]
        signs.add(float(item["input"][0, 0].mean().sign()))
        assert torch.allclose(item["input"][1, :10], torch.tensor(-0.1))
    assert signs == {1.0, -1.0}


def test_frame_source_checks_its_arguments():
    with pytest.raises(ValueError, match="stream"):
        FrameSource(stream="depth")
    with pytest.raises(ValueError, match="crop"):
        FrameSource(resize=64, crop=96)


def test_video_missing_at_read_time_becomes_a_bad_item(tmp_path):
    video = DetectionVideo("late", [[0.5, 1.0]], [0], duration=4.0, path=str(tmp_path / "late.mp4"))
    dataset = DetectionWindowDataset([video], FrameSource(fps=5.0, resize=32, crop=24), 1, train=False, window=8)
    item = dataset[0]
    assert item["input"] is None and item["error"] == f"{tmp_path / 'late.mp4'}: file not found"
    assert collate_detection([item])["bad"] == [item["error"]]
