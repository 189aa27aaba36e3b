"""The feature contract: fields read from new and old sidecars, the check against the detection config,
a detector's training features and the other files of a dataset, sidecars for other tools' features
(their time grid as ActionFormer computes it), and a training run refused on one line."""

import json

import numpy as np
import pytest

from vidaction.config import ConfigError, DetectionDataConfig
from vidaction.data.detection_sources import FeatureSource
from vidaction.data.errors import AnnotationError
from vidaction.data.feature_contract import (FeatureContractError, check_feature_contract, contract_of,
                                             describe_features, video_rates, write_sidecars)
from vidaction.data.feature_sidecar import read_sidecar, write_features
from vidaction.data.records import DetectionVideo


def features(folder, name, steps=20, channels=4, **settings):
    """``<name>.npy`` ``(steps, channels)`` with a sidecar: fps 30, stride 4, window 16, rgb, unless overridden."""
    path = folder / f"{name}.npy"
    contract = {"fps": 30.0, "stride": 4, "window": 16, "stream": "rgb", "layout": "TC", **settings}
    write_features(path, np.zeros((steps, channels), np.float32),
                   describe_features(path, (steps, channels), **contract))
    return path


def config(**data):
    return DetectionDataConfig(**{"input": "features", "feature_channels": 4, **data})


def test_contract_fields_of_new_and_old_sidecars(tmp_path):
    stated = contract_of(read_sidecar(features(tmp_path, "v", extractor="i3d", weights_sha256="ab")).recipe())
    assert stated == dict(stride=4, window=16, stream="rgb", layout="TC", num_channels=4, weights_sha256="ab",
                          feature_fps=7.5, fps=30.0, extractor="i3d")
    # An extract-features sidecar from before the contract: modality is the stream, the rest is unknown.
    assert contract_of({"feature_fps": 6.25, "fps": 25.0, "stride": 4, "modality": "flow"}) == dict(
        stride=4, stream="flow", feature_fps=6.25, fps=25.0)
    assert contract_of({}) == {}


@pytest.mark.parametrize("data, field", [
    (dict(feature_stride=8), "stride"),
    (dict(stream="flow"), "stream"),
    (dict(feature_channels=8), "num_channels"),
    (dict(feature_fps=6.25), "feature_fps"),
    (dict(feature_layout="CTHW"), "layout"),
])
def test_a_sidecar_that_contradicts_the_config_is_refused_naming_file_and_field(tmp_path, data, field):
    path = features(tmp_path, "video_1")
    with pytest.raises(FeatureContractError) as caught:
        check_feature_contract(config(**data), [path])
    assert caught.value.field == field and caught.value.path == path.with_suffix(".json")
    assert isinstance(caught.value, ConfigError) and "\n" not in str(caught.value)
    assert str(caught.value).startswith(f"{path.with_suffix('.json')}: field {field!r}: the sidecar says")


def test_the_frame_rate_is_checked_when_rate_and_stride_are_configured(tmp_path):
    path = features(tmp_path, "v", fps=25.0, stride=4)       # 6.25 features/s, as data.feature_fps says
    check_feature_contract(config(feature_fps=6.25), [path])
    check_feature_contract(config(feature_fps=6.25, feature_stride=4), [path])
    other = features(tmp_path, "w", fps=50.0, stride=8)      # 6.25 features/s too, from 50 fps
    with pytest.raises(FeatureContractError, match="field 'stride'"):
        check_feature_contract(config(feature_fps=6.25, feature_stride=4), [other])


def test_files_must_agree_with_each_other_and_with_the_training_features(tmp_path):
    first, same = features(tmp_path, "a"), features(tmp_path, "b", fps=29.97)  # each video at its own rate
    strided = features(tmp_path, "c", stride=8)
    check_feature_contract(config(), [first, same])
    with pytest.raises(FeatureContractError, match=r"c\.json: field 'stride': the sidecar says 8 but .*a\.json says 4"):
        check_feature_contract(config(), [first, same, strided])
    recipe = read_sidecar(strided).recipe()
    with pytest.raises(FeatureContractError, match="the detector's training features say 8"):
        check_feature_contract(config(), [first], reference=recipe)
    flow = features(tmp_path, "d", stream="flow")
    with pytest.raises(FeatureContractError, match="field 'stream'"):
        check_feature_contract(config(stream="flow"), [flow], reference=read_sidecar(first).recipe())


def test_unknown_fields_missing_or_unreadable_sidecars_and_frame_input_pass(tmp_path):
    bare = tmp_path / "bare.npy"
    np.save(bare, np.zeros((5, 4), np.float32))
    broken = tmp_path / "broken.npy"
    broken.with_suffix(".json").write_text("{")             # left to the dataset, which reports it
    legacy = tmp_path / "legacy.npy"
    legacy.with_suffix(".json").write_text(json.dumps({"feature_fps": 5.0, "time_offset": 0.1}))
    check_feature_contract(config(feature_stride=8, feature_layout="CTHW"),
                           [bare, broken, legacy, tmp_path / "missing.npy"])
    check_feature_contract(DetectionDataConfig(input="frames"), [features(tmp_path, "v", stream="flow")])
    with pytest.raises(ConfigError, match="data.stream"):
        DetectionDataConfig(input="frames", stream="rgb+flow")
    with pytest.raises(ConfigError, match="data.feature_layout"):
        config(feature_layout="NCT")


def test_written_sidecars_give_actionformers_time_grid(tmp_path):
    """ActionFormer maps seconds to feature steps as ``(t * fps - 0.5 * num_frames) / feat_stride``."""
    np.save(tmp_path / "video_test_1.npy", np.zeros((40, 4), np.float32))
    report = write_sidecars(tmp_path, 30.0, 4, 16, "rgb+flow")
    assert report.written == [tmp_path / "video_test_1.npy"] and not report.bad
    record = DetectionVideo("video_test_1", np.zeros((0, 2)), np.zeros(0, np.int64), duration=40 * 4 / 30,
                            path=str(tmp_path / "video_test_1.npy"))
    timeline = FeatureSource(4).timeline(record)
    seconds = np.array([1.0, 2.5, 4.2])
    np.testing.assert_allclose(timeline.to_steps(seconds), (seconds * 30 - 0.5 * 16) / 4)
    check_feature_contract(config(stream="rgb+flow", feature_fps=7.5, feature_stride=4), [record.path])


def test_write_sidecars_checks_each_array(tmp_path):
    np.save(tmp_path / "a.npy", np.zeros((10, 4), np.float32))
    np.save(tmp_path / "b.npy", np.zeros((10, 4), np.float16))
    np.save(tmp_path / "wide.npy", np.zeros((10, 6), np.float32))
    np.save(tmp_path / "ints.npy", np.zeros((10, 4), np.int64))
    np.save(tmp_path / "cube.npy", np.zeros((4, 10, 3), np.float32))
    (tmp_path / "junk.npy").write_bytes(b"not numpy")
    np.save(tmp_path / "old.npy", np.zeros((10, 4), np.float32))
    (tmp_path / "old.json").write_text("{}")
    report = write_sidecars(tmp_path, 25.0, 8, 8, "flow", rates={"a": 10.0})
    assert report.written == [tmp_path / "a.npy", tmp_path / "b.npy"] and report.kept == [tmp_path / "old.npy"]
    reasons = dict((path.stem, reason) for path, reason in report.bad)
    assert set(reasons) == {"wide", "ints", "cube", "junk"}
    assert "6 channels" in reasons["wide"] and "floating point" in reasons["ints"]
    assert "(T, C) or (C, T, H, W)" in reasons["cube"] and "unreadable" in reasons["junk"]
    assert read_sidecar(tmp_path / "a.npy").feature_fps == 10.0 / 8 and read_sidecar(tmp_path / "b.npy").feature_fps == 25.0 / 8
    assert read_sidecar(tmp_path / "b.npy").settings["dtype"] == "float16"
    layout = write_sidecars(tmp_path, 25.0, 8, 8, "flow", layout="CTHW", overwrite=True)
    assert not layout.written and all("not CTHW" in reason for path, reason in layout.bad if path.stem in ("a", "b"))
    with pytest.raises(ValueError, match="stride"):
        write_sidecars(tmp_path, 25.0, 0, 8, "rgb")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no .npy"):
        write_sidecars(tmp_path / "empty", 25.0, 4, 16, "rgb")


def test_video_rates_from_an_activitynet_style_json(tmp_path):
    path = tmp_path / "thumos14.json"
    path.write_text(json.dumps({"database": {"v1": {"fps": 30.0, "subset": "test"}, "v2": {"subset": "test"}}}))
    assert video_rates(path) == {"v1": 30.0}
    path.write_text("[]")
    with pytest.raises(AnnotationError, match="fps"):
        video_rates(path)


SMALL_DETECTOR = {"backbone": "", "channels": 16, "proposal_channels": 16, "frame_channels": 16, "num_levels": 2,
                  "norm_groups": 8}


def test_training_on_features_that_contradict_the_config_or_each_other_stops_on_one_line(tmp_path, cli):
    folder = tmp_path / "features"
    folder.mkdir()
    features(folder, "a", steps=40)
    features(folder, "b", steps=20, stride=8)
    annotations = tmp_path / "gt.json"
    annotations.write_text(json.dumps({"database": {
        name: {"subset": subset, "duration": 40 * 4 / 30, "annotations": [{"segment": [1.0, 2.0], "label": "jump"}]}
        for name, subset in (("a", "training"), ("b", "validation"))}}))
    run = {"task": "detection",
           "data": {"annotations": str(annotations), "root": str(folder), "media_template": "{}.npy",
                    "train_subset": "training", "val_subset": "validation", "input": "features",
                    "feature_channels": 4, "window": 16, "num_workers": 0},
           "model": SMALL_DETECTOR, "train": {"out_dir": str(tmp_path / "run")}}
    path = tmp_path / "run.json"
    path.write_text(json.dumps(run))
    refused = cli("train", path, "data.feature_stride=4", check=False)
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1
    assert refused.stderr.startswith(f"vidaction: error: {folder / 'b.json'}: field 'stride': the sidecar says 8 "
                                     "but data.feature_stride is 4")
    # Each subset alike, but the validation features are not made like the training features.
    mixed = cli("train", path, check=False)
    assert mixed.returncode == 2
    assert "b.json: field 'stride': the sidecar says 8 but the detector's training features say 4" in mixed.stderr
    # vidaction test checks the test features against the checkpoint's training features.
    cli("train", path, "data.val_subset=training", "schedule.epochs=1")
    tested = cli("test", path, f"checkpoint={tmp_path / 'run' / 'last.pt'}", check=False)
    assert tested.returncode == 2
    assert "b.json: field 'stride': the sidecar says 8 but the detector's training features say 4" in tested.stderr


def test_detection_refuses_features_unlike_the_detectors_training_features(tmp_path):
    from vidaction.config import config_from_dict
    from vidaction.engine.tasks.detection import build_detector
    from vidaction.engine.video_detection import detect_record

    cfg = config_from_dict({"task": "detection", "model": SMALL_DETECTOR,
                            "data": {"input": "features", "feature_channels": 4, "window": 16, "num_workers": 0}})
    model = build_detector(cfg.model, cfg.data, 2)
    model.pretrained_cfg = {"features": read_sidecar(features(tmp_path, "train")).recipe()}
    record = DetectionVideo("test", np.zeros((0, 2)), np.zeros(0, np.int64), path=str(features(tmp_path, "test",
                                                                                                 window=32)))
    with pytest.raises(FeatureContractError, match="field 'window': the sidecar says 32 but the detector's training"):
        detect_record(model, cfg, ["jump", "run"], record, "cpu")
