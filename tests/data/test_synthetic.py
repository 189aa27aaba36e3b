"""Synthetic motion data (``vidaction.data.synthetic``): layout, determinism, time-reversed class pairs."""

import json

import numpy as np
import pytest

from vidaction.data.synthetic import REVERSAL_PAIRS, make_motion_dataset, render_motion_clip
from vidaction.data.video import VideoReader


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
