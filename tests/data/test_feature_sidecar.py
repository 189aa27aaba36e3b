"""The feature sidecar: one writer and one reader, the recipe a detector keeps, the time-grid
fallback, completion checks and errors naming the field."""

import json

import numpy as np
import pytest

from vidaction.data.feature_sidecar import (PER_VIDEO_FIELDS, FeatureSidecar, SidecarError, complete_sidecar,
                                            feature_path, feature_recipe, read_sidecar, write_features)


def sidecar(**overrides):
    fields = dict(video_id="v", feature_fps=5.0, duration=4.0, num_features=3, feature_times=[0.4, 0.6, 0.8],
                  shape=[3, 2], details={"source": "v.mp4", "padded_frames": 0},
                  settings={"fps": 10.0, "window": 8, "stride": 2, "layout": "TC"})
    return FeatureSidecar(**{**fields, **overrides})


def test_written_pair_reads_back_and_is_complete(tmp_path):
    path = write_features(feature_path(tmp_path / "out", "v"), np.zeros((3, 2), np.float32), sidecar())
    assert path == tmp_path / "out" / "v.npy" and path.with_suffix(".json").is_file()
    assert read_sidecar(path) == sidecar() == complete_sidecar(path)
    stored = json.loads(path.with_suffix(".json").read_text())
    assert feature_recipe(path) == {k: v for k, v in stored.items() if k not in PER_VIDEO_FIELDS}
    np.save(path, np.zeros((2, 2), np.float32))  # shape differs from the sidecar's: not complete
    assert complete_sidecar(path) is None and complete_sidecar(tmp_path / "none.npy") is None


def test_start_time_and_window_steps():
    assert sidecar().start_time == 0.4 and sidecar(time_offset=0.1).start_time == 0.1
    assert sidecar(feature_times=None).start_time is None
    assert sidecar().window_steps == 4 and sidecar(settings={}).window_steps == 0
    assert "time_offset" not in sidecar().recipe() and sidecar(time_offset=0.1).recipe()["time_offset"] == 0.1


def test_missing_sidecar_and_bad_ones(tmp_path):
    assert read_sidecar(tmp_path / "v.npy") is None and feature_recipe(tmp_path / "v.npy") == {}
    for text, field in (("{", "sidecar"), ("[1]", "sidecar"), ('{"feature_fps": "x"}', "feature_fps"),
                        ('{"feature_times": [0.1, "a"]}', "feature_times")):
        (tmp_path / "v.json").write_text(text)
        with pytest.raises(SidecarError) as caught:
            read_sidecar(tmp_path / "v.npy")
        assert caught.value.field == field and caught.value.path == tmp_path / "v.json"


def test_fields_stay_in_their_place():
    with pytest.raises(ValueError, match="duration"):
        FeatureSidecar(settings={"duration": 3.0})
    with pytest.raises(ValueError, match="fps"):
        FeatureSidecar(details={"fps": 3.0})
