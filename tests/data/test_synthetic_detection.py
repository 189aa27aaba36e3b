"""Synthetic detection data (``vidaction.data.synthetic_detection``): the instance plan, layout and
annotation files, their agreement with the videos, features and readers, cache reuse, motion
semantics of the descriptor, learnability, and the ``make-synthetic --task detection`` command."""

import itertools
import json

import numpy as np
import pytest
import torch

from vidaction.cli.main import main
from vidaction.data.detection_dataset import DetectionWindowDataset
from vidaction.data.detection_sources import FeatureSource
from vidaction.data.records import DetectionVideo
from vidaction.data.synthetic_detection import (
    CLASS_SECONDS,
    DESCRIPTOR_DIMS,
    DETECTION_CLASSES,
    MIN_GAP_SECONDS,
    PAIR_DIMS,
    Instance,
    make_detection_dataset,
    motion_descriptor,
    motion_features,
    plan_instances,
    projection_matrix,
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


def test_descriptor_sees_the_direction_of_slides_and_bounces():
    fps, frames = 10.0, 200
    mean_u, mean_v = 32, 33  # columns of the window means of the weighted mean flow
    std = 3 * PAIR_DIMS  # offset of the standard deviations over the window's pairs
    for name in ("SlideRight", "SlideLeft", "Bounce"):
        label = DETECTION_CLASSES.index(name)
        instances = [Instance(label, 40, 70), Instance(label, 120, 150)]
        video = render_detection_video(np.random.default_rng(label), instances, [], frames, fps, 64)
        descriptor = motion_descriptor(video)
        times = 0.1 + np.arange(len(descriptor)) * 0.2
        inside = np.zeros(len(descriptor), dtype=bool)
        for event in instances:
            inside |= (times >= event.start / fps + 0.6) & (times < event.end / fps - 0.6)
        background = np.ones(len(descriptor), dtype=bool)
        for event in instances:
            background &= (times < event.start / fps - 1) | (times >= event.end / fps + 1)
        u, v = descriptor[inside, mean_u].mean(), descriptor[inside, mean_v].mean()
        if name == "SlideRight":
            assert u > 0.3 and u > 2 * abs(v)
        elif name == "SlideLeft":
            assert u < -0.3 and -u > 2 * abs(v)
        else:  # up and down: the vertical flow swings from pair to pair, far more than in the background
            spread_u, spread_v = descriptor[:, std + mean_u], descriptor[:, std + mean_v]
            assert spread_v[inside].mean() > 3 * spread_v[background].mean()
            assert spread_v[inside].mean() > spread_u[inside].mean()


def test_features_are_the_fixed_projection_of_the_descriptor():
    video = render_detection_video(np.random.default_rng(0), [Instance(4, 20, 40)], [], 61, 10.0, 32)
    descriptor = motion_descriptor(video)
    assert descriptor.shape == (31, DESCRIPTOR_DIMS) and np.isfinite(descriptor).all()
    assert np.array_equal(projection_matrix(24), projection_matrix(24))
    assert np.allclose(motion_features(video, 24), descriptor @ projection_matrix(24), atol=1e-5)
    with pytest.raises(ValueError, match="multiples of 8"):
        motion_descriptor(video[:, :30, :30])


def _positions(seed, split, count, size=48):
    features, labels = [], []
    for k in range(count):
        rng = np.random.default_rng((seed, split, k))
        frames = int(rng.uniform(20, 30) * 10)
        instances, ambiguous = plan_instances(rng, frames, 10.0, primary=k % len(DETECTION_CLASSES))
        array = motion_features(render_detection_video(rng, instances, ambiguous, frames, 10.0, size), 64)
        times = 0.1 + 0.2 * np.arange(len(array))
        target = np.zeros(len(array), dtype=np.int64)
        for event in ambiguous:
            target[(times >= event.start / 10) & (times < event.end / 10)] = -1
        for event in instances:
            target[(times >= event.start / 10) & (times < event.end / 10)] = event.label + 1
        features.append(array)
        labels.append(target)
    features, labels = np.concatenate(features), np.concatenate(labels)
    return features[labels >= 0], labels[labels >= 0]


@pytest.mark.slow
def test_a_per_position_logistic_regression_beats_chance():
    x_train, y_train = _positions(7, 0, 10)
    x_test, y_test = _positions(7, 1, 5)
    mean, std = x_train.mean(0), x_train.std(0) + 1e-6
    torch.manual_seed(0)
    model = torch.nn.Linear(x_train.shape[1], len(DETECTION_CLASSES) + 1)
    inputs, targets = torch.from_numpy((x_train - mean) / std), torch.from_numpy(y_train)
    optimizer = torch.optim.LBFGS(model.parameters(), max_iter=200, line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(inputs), targets) + 1e-3 * model.weight.square().sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    with torch.no_grad():
        probabilities = model(torch.from_numpy((x_test - mean) / std)).softmax(1).numpy()
    action, predicted = y_test > 0, probabilities[:, 0] < 0.5
    balanced = 0.5 * (predicted[action].mean() + (~predicted[~action]).mean())
    class_accuracy = (probabilities[action, 1:].argmax(1) + 1 == y_test[action]).mean()
    assert balanced > 0.65
    assert class_accuracy > 0.3  # 5 classes


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


def test_descriptor_of_non_square_frames():
    video = render_detection_video(np.random.default_rng(1), [Instance(2, 20, 40)], [], 60, 10.0, 64)
    assert motion_descriptor(video[:, :, 8:56]).shape == (30, DESCRIPTOR_DIMS)
