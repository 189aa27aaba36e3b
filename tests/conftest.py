"""Shared fixtures: tiny real videos written with PyAV."""

from pathlib import Path

import numpy as np
import pytest

from vidaction.data.writer import write_video


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
