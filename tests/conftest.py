"""Shared fixtures and helpers: tiny real videos written with PyAV, the synthetic motion and detection
sets, the command line run in this process, the detection configs and the label files of the
EgoGesture and EPIC-Kitchens readers."""

import contextlib
import io
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pytest
import torch

from vidaction.data.writer import write_video

# The tests' models are tiny: with more than one intra-op thread, OpenMP's hand-offs cost more than the
# arithmetic (a 32-channel conv1d: 0.1 ms on one thread, 2-15 ms on two of a busy 2-core machine). The
# tests that start processes (torchrun, the entry points) give them OMP_NUM_THREADS=1 for the same reason.
# The cores are used by running two test processes instead (pytest-xdist, ``-n 2`` in pyproject.toml).
torch.set_num_threads(1)


def gray_ramp(num_frames: int, size: int = 32) -> np.ndarray:
    """Frame ``i`` is uniformly gray at level ``8 * i``: decoded frames reveal their index."""
    levels = (np.arange(num_frames) * 8).astype(np.uint8)
    return np.broadcast_to(levels[:, None, None, None], (num_frames, size, size, 3)).copy()


def frame_index_of(frames: np.ndarray) -> list[int]:
    return [int(round(float(f.mean()) / 8)) for f in frames]


@pytest.fixture
def ramp_video(tmp_path) -> Path:
    return write_video(tmp_path / "ramp.mp4", gray_ramp(30), fps=25)


@pytest.fixture(scope="session")
def motion_dataset(tmp_path_factory) -> Path:
    from vidaction.data.synthetic import make_motion_dataset

    return make_motion_dataset(tmp_path_factory.mktemp("motion"), videos_per_class=8, size=32, num_frames=8)


@pytest.fixture(scope="session")
def detection_dataset(tmp_path_factory) -> Path:
    """Seven short untrimmed videos (4 validation, 3 test) with annotations and 32-channel features."""
    from vidaction.data.synthetic_detection import make_detection_dataset

    return make_detection_dataset(tmp_path_factory.mktemp("detection"), num_train=4, num_test=3, min_duration=12.0,
                                  max_duration=16.0, channels=32)


class CliResult(NamedTuple):
    """What a ``vidaction`` invocation returned and printed."""
    returncode: int
    stdout: str
    stderr: str


def run_cli(*args, check: bool = True) -> CliResult:
    """``vidaction ARGS`` through :func:`vidaction.cli.main.main` in this process, its output captured;
    ``check`` asserts exit status 0. An exception ``main`` does not turn into an exit status (a crash
    rather than a user error) propagates and fails the test with its traceback."""
    from vidaction.cli.main import main

    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        try:
            code = main([str(arg) for arg in args])
        except SystemExit as exc:   # argparse: --help, usage errors
            code = exc.code
    result = CliResult(code, stdout.getvalue(), stderr.getvalue())
    if check:
        assert result.returncode == 0, result.stderr[-3000:]
    return result


@pytest.fixture(scope="session")
def cli():
    """``cli(*args, check=True) -> CliResult``: the command line in this process (no interpreter start)."""
    return run_cli


def detection_feature_config(dataset: Path, out_dir: Path, epochs: int = 2, **data):
    """A small AFSD detector on ``dataset``'s 32-channel features (``detection_dataset``)."""
    from vidaction.config import config_from_dict

    return config_from_dict({
        "task": "detection",
        "data": {"annotations": str(dataset / "annotations"), "root": str(dataset / "features"),
                 "media_template": "{}.npy", "class_names": str(dataset / "annotations" / "classes.txt"),
                 "input": "features", "feature_channels": 32, "window": 32, "train_stride": 8, "test_stride": 16,
                 "batch_size": 4, "num_workers": 0, "pin_memory": False, **data},
        "model": {"backbone": "", "channels": 32, "proposal_channels": 16, "frame_channels": 16, "num_levels": 3,
                  "norm_groups": 8},
        "optim": {"name": "adamw", "lr": 1e-3, "weight_decay": 1e-4, "grad_clip": 5.0},
        "schedule": {"epochs": epochs, "policy": "cosine"},
        "train": {"out_dir": str(out_dir), "progress": False, "tensorboard": False, "log_every": 1},
        "test": {"tiou_thresholds": [0.1, 0.3, 0.5]},
    })


@pytest.fixture(scope="session")
def feature_config():
    """``feature_config(dataset, out_dir, epochs=2, **data)``: :func:`detection_feature_config`."""
    return detection_feature_config


# A small GAF for the feature detector of :func:`detection_feature_config`.
SMALL_GAF = {"attention_channels": 32, "norm_groups": 8, "cvae_channels": 16, "cvae_hidden": 32, "latent_size": 8}


def detection_gaf_config(dataset: Path, out_dir: Path, epochs: int = 2, **gaf):
    """:func:`detection_feature_config` with a small GAF (``model.attention=gaf``) and ``gaf`` settings."""
    from vidaction.config import config_from_dict, config_to_dict

    tree = config_to_dict(detection_feature_config(dataset, out_dir, epochs=epochs))
    tree["model"].update(attention="gaf", attention_options=dict(SMALL_GAF))
    tree["gaf"].update(gaf)
    return config_from_dict(tree)


@pytest.fixture(scope="session")
def small_gaf():
    """The small GAF's ``attention_options`` (a fresh dict)."""
    return dict(SMALL_GAF)


@pytest.fixture(scope="session")
def gaf_config():
    """``gaf_config(dataset, out_dir, epochs=2, **gaf)``: :func:`detection_gaf_config`."""
    return detection_gaf_config


def write_detection_config(path: Path, dataset: Path, out_dir: Path, gaf: bool = False) -> Path:
    """A one-epoch config file of the small feature detector on ``dataset`` (``detection_dataset``),
    with the small GAF when ``gaf``; JSON, which the YAML loader reads."""
    import json

    config = {
        "task": "detection",
        "data": {"annotations": str(dataset / "annotations"), "root": str(dataset / "features"),
                 "media_template": "{}.npy", "class_names": str(dataset / "annotations" / "classes.txt"),
                 "input": "features", "feature_channels": 32, "window": 32, "train_stride": 16, "test_stride": 16,
                 "batch_size": 4, "num_workers": 0, "pin_memory": False},
        "model": {"backbone": "", "channels": 32, "proposal_channels": 16, "frame_channels": 16, "num_levels": 3,
                  "norm_groups": 8, **({"attention": "gaf", "attention_options": dict(SMALL_GAF)} if gaf else {})},
        "optim": {"name": "adamw", "lr": 0.003},
        "schedule": {"epochs": 1},
        "train": {"out_dir": str(out_dir), "progress": False, "tensorboard": False},
        "test": {"tiou_thresholds": [0.3, 0.5]},
    }
    path.write_text(json.dumps(config))
    return path


@pytest.fixture(scope="session")
def detection_config_file():
    """``detection_config_file(path, dataset, out_dir, gaf=False) -> path``: :func:`write_detection_config`."""
    return write_detection_config


def write_egogesture_labels(root, subject, scene, group, text, name="Group{}.csv", encoding="utf-8") -> Path:
    """One EgoGesture label file ``subjectNN/SceneS/GroupG.csv`` under ``root``."""
    path = root / f"subject{subject:02d}" / f"Scene{scene}" / name.format(group)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode(encoding))
    return path


def make_egogesture_tree(tmp_path, subsets=("train", "val", "test")) -> Path:
    """Every subject of ``subsets``: Scene1/Group1.csv with two gestures, Scene2/Group3.csv with one."""
    from vidaction.data.formats.egogesture import SUBJECTS

    labels = tmp_path / "labels-final-revised1"
    for subset in subsets:
        for subject in SUBJECTS[subset]:
            write_egogesture_labels(labels, subject, 1, 1, "5,10,40\r\n83,41,90,\r\n")
            write_egogesture_labels(labels, subject, 2, 3, "1,1,30\n")
    return labels


@pytest.fixture(scope="session")
def egogesture():
    """``egogesture.make_tree(tmp_path, subsets)`` and ``egogesture.write_labels(root, subject, scene,
    group, text)``: EgoGesture label trees."""
    from types import SimpleNamespace

    return SimpleNamespace(make_tree=make_egogesture_tree, write_labels=write_egogesture_labels)


EPIC55_HEADER = ("uid,participant_id,video_id,narration,start_timestamp,stop_timestamp,start_frame,stop_frame,"
                 "verb,verb_class,noun,noun_class,all_nouns,all_noun_classes\n")
EPIC55_TEST_HEADER = "uid,participant_id,video_id,start_timestamp,stop_timestamp,start_frame,stop_frame\n"


def write_epic55_annotations(folder: Path, rows) -> Path:
    """Verbs take/put and nouns tap/cup/pan (class rows out of id order), the training ``rows``, one S1
    and two S2 test segments."""
    from vidaction.data.formats.epic_kitchens import TRAIN_FILE

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "EPIC_verb_classes.csv").write_text(
        "verb_id,class_key,verbs\n1,put,['put']\n0,take,\"['take', 'grab']\"\n")
    (folder / "EPIC_noun_classes.csv").write_text(
        "noun_id,class_key,nouns\n0,tap,['tap']\n2,pan,['pan']\n1,cup,['cup']\n")
    (folder / TRAIN_FILE).write_text(EPIC55_HEADER + "".join(rows))
    (folder / "EPIC_test_s1_timestamps.csv").write_text(
        EPIC55_TEST_HEADER + "9,P01,P01_11,00:00:01.00,00:00:02.00,61,120\n")
    (folder / "EPIC_test_s2_timestamps.csv").write_text(
        EPIC55_TEST_HEADER + "10,P09,P09_07,00:00:00.00,00:00:01.00,1,60\n"
        "11,P09,P09_07,00:00:03.00,00:00:04.00,181,240\n")
    return folder


@pytest.fixture(scope="session")
def epic55():
    """``epic55.write_annotations(folder, rows)`` and the training CSV's ``header``."""
    from types import SimpleNamespace

    return SimpleNamespace(write_annotations=write_epic55_annotations, header=EPIC55_HEADER)
