"""Synthetic detection data (``vidaction.data.synthetic_scenes``, ``vidaction.data.synthetic_detection``):
the instance plan, layout and annotation files, their agreement with the videos, features and readers,
cache reuse, and the ``make-synthetic --task detection`` command."""

import itertools
import json

import numpy as np
import pytest

from vidaction.cli.main import main
from vidaction.data.detection_dataset import DetectionWindowDataset
from vidaction.data.detection_sources import FeatureSource
from vidaction.data.records import DetectionVideo
from vidaction.data.synthetic_detection import make_detection_dataset
from vidaction.data.synthetic_scenes import (
    CLASS_SECONDS,
    DETECTION_CLASSES,
    MIN_GAP_SECONDS,
    Instance,
    plan_instances,
    render_detection_video,
)
from vidaction.data.video import VideoReader

TINY = {"num_train": 3, "num_test": 2, "size": 32, "min_duration": 12.0, "max_duration": 14.0, "channels": 16,
        "seed": 5}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return make_detection_dataset(tmp_path_factory.mktemp("det") / "synthetic", **TINY)


@pytest.mark.parametrize("seed", range(20))
def test_plan_is_sorted_disjoint_with_gaps_and_class_durations(seed):
    rng = np.random.default_rng(seed)
    fps, frames = 10.0, int(rng.uniform(20, 60) * 10)
    instances, ambiguous = plan_instances(rng, frames, fps, primary=seed % 5)
    assert 1 <= len(instances) <= 6 and seed % 5 in [e.label for e in instances]
    events = sorted(instances + ambiguous, key=lambda e: e.start)
    assert events[0].start >= MIN_GAP_SECONDS * fps and events[-1].end <= frames - MIN_GAP_SECONDS * fps
    for before, after in itertools.pairwise(events):
        assert after.start - before.end >= MIN_GAP_SECONDS * fps
    for event in instances:
        low, high = CLASS_SECONDS[DETECTION_CLASSES[event.label]]
        assert low * fps - 0.5 <= event.end - event.start <= high * fps + 0.5 and event.amplitude == 1.0
    assert all(e.amplitude < 1 for e in ambiguous)
    assert sum(e.end - e.start for e in instances) <= 0.45 * frames


def test_layout_annotations_and_features_agree(tiny):
    names = sorted(p.name for p in (tiny / "annotations").iterdir())
    expected = sorted([f"{c}_{s}.txt" for c in (*DETECTION_CLASSES, "Ambiguous") for s in ("val", "test")]
                      + ["classes.txt"])
    assert names == expected
    assert (tiny / "annotations" / "classes.txt").read_text().split() == list(DETECTION_CLASSES)
    database = json.loads((tiny / "activitynet.json").read_text())["database"]
    assert sorted(database) == [f"video_test_{k:07d}" for k in (1, 2)] + [f"video_validation_{k:07d}"
                                                                          for k in (1, 2, 3)]
    from_files = {}
    for name in DETECTION_CLASSES:
        for suffix in ("val", "test"):
            for line in (tiny / "annotations" / f"{name}_{suffix}.txt").read_text().splitlines():
                video, start, end = line.split()
                assert video.startswith("video_validation" if suffix == "val" else "video_test")
                from_files.setdefault(video, []).append((name, float(start), float(end)))
    for video_id, entry in database.items():
        reader = VideoReader(tiny / "videos" / f"{video_id}.mp4")
        assert reader.num_frames == round(entry["duration"] * entry["fps"]) and reader.fps == 10.0
        assert reader.get_frames([0]).shape == (1, 32, 32, 3)
        from_json = sorted((a["label"], *a["segment"]) for a in entry["annotations"])
        assert from_json == sorted(from_files[video_id]) and from_json
        for _, start, end in from_json:
            assert 0 < start < end < entry["duration"]
        features = np.load(tiny / "features" / f"{video_id}.npy")
        sidecar = json.loads((tiny / "features" / f"{video_id}.json").read_text())
        assert features.shape == (int(np.ceil(reader.num_frames / 2)), 16) and features.dtype == np.float32
        assert sidecar["feature_fps"] == 5.0 and sidecar["time_offset"] == pytest.approx(0.1)
        assert sidecar["num_features"] == len(features) == len(sidecar["feature_times"])
        assert sidecar["duration"] == entry["duration"]


def test_cache_reuse_and_regeneration(tiny, tmp_path):
    stamp = (tiny / "manifest.json").stat().st_mtime_ns
    assert make_detection_dataset(tiny, **TINY) == tiny
    assert (tiny / "manifest.json").stat().st_mtime_ns == stamp
    small = dict(TINY, num_train=1, num_test=1)
    root = make_detection_dataset(tmp_path / "d", **small)
    first = (root / "activitynet.json").read_text()
    make_detection_dataset(root, **dict(small, seed=6))
    assert (root / "activitynet.json").read_text() != first
    assert len(list((root / "videos").iterdir())) == 2
    make_detection_dataset(root, **small)
    assert (root / "activitynet.json").read_text() == first


def test_readers_and_the_feature_dataset_accept_the_files(tiny):
    formats = pytest.importorskip("vidaction.data.formats.detection")
    classes = (tiny / "annotations" / "classes.txt").read_text().split()
    folder_videos, folder_classes = formats.read_detection_annotations(tiny / "annotations", "val")
    json_videos, json_classes = formats.read_detection_annotations(tiny / "activitynet.json", "validation", classes)
    # a small set may lack a class in its JSON; the folder lists every class file, sorted
    assert folder_classes == json_classes == list(DETECTION_CLASSES)
    assert [v.video_id for v in folder_videos] == [v.video_id for v in json_videos]
    for a, b in zip(folder_videos, json_videos, strict=True):
        order_a, order_b = np.lexsort(a.segments.T[::-1]), np.lexsort(b.segments.T[::-1])
        assert np.allclose(a.segments[order_a], b.segments[order_b])
        assert a.labels[order_a].tolist() == b.labels[order_b].tolist()
    records = [DetectionVideo(v.video_id, v.segments, v.labels, v.duration,
                              path=str(tiny / "features" / f"{v.video_id}.npy")) for v in json_videos]
    dataset = DetectionWindowDataset(records, FeatureSource(16), len(DETECTION_CLASSES), train=True, window=32,
                                     stride=8)
    assert len(dataset) > 0 and dataset[0]["input"].shape == (16, 32)

def test_bad_arguments():
    with pytest.raises(ValueError, match="unknown detection classes"):
        make_detection_dataset("/nonexistent", classes=("Jump",))
    with pytest.raises(ValueError, match="multiple of 8"):
        make_detection_dataset("/nonexistent", size=60)
    with pytest.raises(ValueError, match="unknown detection class 'Jump'"):
        render_detection_video(np.random.default_rng(0), [Instance(0, 20, 40)], [], 60, 10.0, 32, classes=("Jump",))


def test_make_synthetic_detection_command(tmp_path, capsys):
    out = tmp_path / "cli"
    assert main(["make-synthetic", "--task", "detection", "--out", str(out), "--train-videos", "1", "--test-videos",
                 "1", "--size", "32", "--min-duration", "12", "--max-duration", "12", "--feature-dim", "8"]) == 0
    assert capsys.readouterr().out.strip() == f"synthetic detection dataset in {out}"
    assert np.load(out / "features" / "video_test_0000001.npy").shape == (60, 8)
    assert main(["make-synthetic", "--task", "detection", "--out", str(out), "--size", "36"]) == 2
    assert "vidaction: error: make-synthetic --task detection: size must be a multiple of 8" in capsys.readouterr().err
