"""The synthetic untrimmed detection dataset: videos, THUMOS14/ActivityNet-style annotations and
pre-extracted features, written by :func:`make_detection_dataset`.

Videos come from :mod:`vidaction.data.synthetic_scenes` (the actor, its action instances, ambiguous
regions and distractors), features from :mod:`vidaction.data.motion_descriptor`, computed from the
rendered frames, before H.264 coding. Layout (``S`` the subset: ``validation`` for training,
``test``)::

    videos/video_<S>_0000001.mp4 ...           H.264, constant frame rate
    annotations/<Class>_val.txt, <Class>_test.txt, Ambiguous_val.txt, Ambiguous_test.txt
                                               THUMOS14 lines "video_id start end" in seconds
    annotations/classes.txt                    class names in label order (alphabetical)
    activitynet.json                           {"version", "database": {video_id: {"subset": S,
                                               "duration", "fps", "resolution", "url",
                                               "annotations": [{"segment": [s, e], "label"}],
                                               "ambiguous": [[s, e], ...]}}}
    features/<video_id>.npy, <video_id>.json   (T, C) float32 and its sidecar
    manifest.json                              the parameters; an identical dataset is reused

Instance bounds are frame times: an instance moving on frames ``a .. b - 1`` is ``[a / fps, b / fps]``;
a video of ``N`` frames has ``ceil(N / feature_stride)`` feature steps.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np

from vidaction.data.feature_sidecar import feature_path, write_features
from vidaction.data.motion_descriptor import EXTRACTOR, motion_features, motion_sidecar
from vidaction.data.synthetic_scenes import DETECTION_CLASSES, plan_instances, render_detection_video
from vidaction.data.writer import write_video

SUBSETS = {"validation": "val", "test": "test"}
GENERATOR_VERSION = 1


def _manifest(**params) -> dict:
    params = dict(task="detection", version=GENERATOR_VERSION, extractor=EXTRACTOR, **params)
    params["hash"] = hashlib.sha1(json.dumps(params, sort_keys=True).encode()).hexdigest()[:12]
    return params


def _seconds(frame: int, fps: float) -> float:
    return round(frame / fps, 4)


def _fmt(value: float) -> str:
    return f"{value:.4f}".rstrip("0").rstrip(".")


def make_detection_dataset(root: str | Path, num_train: int = 30, num_test: int = 20, size: int = 64,
                           fps: float = 10.0, min_duration: float = 20.0, max_duration: float = 60.0,
                           channels: int = 128, feature_stride: int = 2, feature_window: int = 8, seed: int = 0,
                           classes: tuple[str, ...] | None = None) -> Path:
    """Write the dataset described in the module docstring (or reuse an identical one); returns ``root``.

    ``num_train`` videos form the ``validation`` subset (THUMOS14 trains on its validation set) and
    ``num_test`` the ``test`` subset.
    """
    classes = tuple(sorted(classes or DETECTION_CLASSES))  # THUMOS14 readers sort class files by name
    unknown = [c for c in classes if c not in DETECTION_CLASSES]
    if unknown or not classes:
        raise ValueError(f"unknown detection classes {unknown}; known: {', '.join(DETECTION_CLASSES)}")
    if size % 8 or size < 32:
        raise ValueError(f"size must be a multiple of 8 and >= 32, got {size}")
    if num_train < 1 or num_test < 1:
        raise ValueError("need at least one training and one test video")
    if not 12.0 <= min_duration <= max_duration:
        raise ValueError(f"need 12 <= min_duration <= max_duration, got {min_duration}, {max_duration}")
    if feature_stride < 1 or feature_window < feature_stride or (feature_window - feature_stride) % 2:
        raise ValueError(f"need feature_window >= feature_stride >= 1 of equal parity, "
                         f"got {feature_window}, {feature_stride}")
    out = Path(root)
    manifest = _manifest(num_train=num_train, num_test=num_test, size=size, fps=fps, min_duration=min_duration,
                         max_duration=max_duration, channels=channels, feature_stride=feature_stride,
                         feature_window=feature_window, seed=seed, classes=list(classes))
    manifest_path = out / "manifest.json"
    if manifest_path.is_file() and json.loads(manifest_path.read_text()) == manifest:
        return out
    manifest_path.unlink(missing_ok=True)
    for sub in ("videos", "features", "annotations"):
        shutil.rmtree(out / sub, ignore_errors=True)
    (out / "annotations").mkdir(parents=True)
    (out / "features").mkdir()
    lines = {(name, subset): [] for name in (*classes, "Ambiguous") for subset in SUBSETS.values()}
    database = {}
    for subset, suffix in SUBSETS.items():
        for k in range(num_train if subset == "validation" else num_test):
            video_id = f"video_{subset}_{k + 1:07d}"
            rng = np.random.default_rng((seed, 0 if subset == "validation" else 1, k))
            num_frames = round(rng.uniform(min_duration, max_duration) * fps)
            instances, ambiguous = plan_instances(rng, num_frames, fps, classes, primary=k % len(classes))
            frames = render_detection_video(rng, instances, ambiguous, num_frames, fps, size, classes)
            write_video(out / "videos" / f"{video_id}.mp4", frames, fps=fps)
            features = motion_features(frames, channels, feature_stride, feature_window)
            sidecar = motion_sidecar(video_id, num_frames, len(features), fps, feature_stride, feature_window, channels)
            write_features(feature_path(out / "features", video_id), features, sidecar)
            duration = num_frames / fps
            annotations = []
            for event in instances:
                start, end = _seconds(event.start, fps), _seconds(event.end, fps)
                lines[(classes[event.label], suffix)].append(f"{video_id} {_fmt(start)} {_fmt(end)}")
                annotations.append({"segment": [start, end], "label": classes[event.label]})
            for event in ambiguous:
                lines[("Ambiguous", suffix)].append(
                    f"{video_id} {_fmt(_seconds(event.start, fps))} {_fmt(_seconds(event.end, fps))}")
            database[video_id] = {
                "subset": subset, "duration": duration, "fps": fps, "resolution": f"{size}x{size}", "url": "",
                "annotations": annotations,
                "ambiguous": [[_seconds(e.start, fps), _seconds(e.end, fps)] for e in ambiguous],
            }
    for (name, suffix), entries in lines.items():
        (out / "annotations" / f"{name}_{suffix}.txt").write_text("".join(f"{line}\n" for line in entries))
    (out / "annotations" / "classes.txt").write_text("".join(f"{name}\n" for name in classes))
    (out / "activitynet.json").write_text(json.dumps(
        {"version": f"vidaction-synthetic-detection-{GENERATOR_VERSION}", "database": database}, indent=1))
    manifest_path.write_text(json.dumps(manifest, indent=2))
    return out
