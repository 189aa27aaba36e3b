"""THUMOS14 readers: official per-class annotation folders and the ActivityNet-style JSON conversion."""

import json

import numpy as np
import pytest

from vidaction.data.errors import AnnotationError
from vidaction.data.formats.detection import detection_format, read_detection_annotations
from vidaction.data.formats.thumos14 import (THUMOS14_CLASSES, THUMOS14_UCF101_IDS, read_thumos14,
                                             read_thumos14_folder, read_thumos14_json)


def write_folder(root, suffix="test", files=None, classes=THUMOS14_CLASSES):
    """Every class file of ``suffix`` (empty unless given in ``files``) plus the given extra files."""
    root.mkdir(parents=True, exist_ok=True)
    files = files or {}
    for name in classes:
        (root / f"{name}_{suffix}.txt").write_text(files.get(name, ""))
    for name, text in files.items():
        if name not in classes:
            (root / f"{name}_{suffix}.txt").write_text(text)
    return root


def test_official_class_order():
    assert len(THUMOS14_CLASSES) == 20 and THUMOS14_CLASSES == sorted(THUMOS14_CLASSES)
    assert THUMOS14_CLASSES[4] == "CliffDiving" and THUMOS14_CLASSES[7] == "Diving"
    assert THUMOS14_UCF101_IDS == sorted(THUMOS14_UCF101_IDS) and len(THUMOS14_UCF101_IDS) == 20


def test_folder_segments_ambiguous_and_order(tmp_path):
    folder = write_folder(tmp_path / "annotation", files={
        "Diving": "video_test_0000004  30.5  32.1\r\nvideo_test_0000004\t10.0 12.5\n",
        "CliffDiving": "video_test_0000004 10.0 12.5\n",
        "BaseballPitch": "\nvideo_test_0000001 1.0 2.0\n",
        "Ambiguous": "video_test_0000004 40 41\nvideo_test_0001292 5 9\nvideo_test_0000004 20 21\n",
    })
    videos, classes = read_thumos14_folder(folder, "test")
    assert classes == THUMOS14_CLASSES
    assert [v.video_id for v in videos] == ["video_test_0000001", "video_test_0000004", "video_test_0001292"]
    four = videos[1]
    np.testing.assert_array_equal(four.segments, [[10.0, 12.5], [10.0, 12.5], [30.5, 32.1]])
    assert four.labels.tolist() == [THUMOS14_CLASSES.index("CliffDiving"), THUMOS14_CLASSES.index("Diving"),
                                    THUMOS14_CLASSES.index("Diving")]
    np.testing.assert_array_equal(four.ambiguous, [[20.0, 21.0], [40.0, 41.0]])
    assert four.subset == "testing" and four.duration is None and four.meta["file_stem"] == "video_test_0000004"
    only_ambiguous = videos[2]
    assert len(only_ambiguous.labels) == 0 and only_ambiguous.ambiguous.tolist() == [[5.0, 9.0]]


@pytest.mark.parametrize("subset, suffix", [("val", "val"), ("Validation", "val"), ("testing", "test")])
def test_subset_names(tmp_path, subset, suffix):
    folder = write_folder(tmp_path / "a", suffix=suffix, files={"Billiards": f"video_{suffix} 1 2\n"})
    videos, _ = read_thumos14(folder, subset)
    assert [v.video_id for v in videos] == [f"video_{suffix}"]
    with pytest.raises(ValueError, match="THUMOS14 detection subsets"):
        read_thumos14_folder(folder, "training")


def test_missing_ambiguous_file_means_no_regions(tmp_path):
    folder = write_folder(tmp_path / "a", files={"Shotput": "v 1 2\n"})
    (videos, _) = read_thumos14_folder(folder, "test")
    assert videos[0].ambiguous.shape == (0, 2)


@pytest.mark.parametrize("text, message", [
    ("video 1.0\n", r"Shotput_test.txt:1: expected 'video_name start end'"),
    ("video 1 2\nvideo one 2\n", r"Shotput_test.txt:2: start and end must be seconds"),
    ("video 5 2\n", r"video video: segment \[5.0, 2.0\] needs 0 <= start <= end"),
    ("video -1 2\n", "needs 0 <= start <= end"),
    ("video nan 2\n", "needs 0 <= start <= end"),
])
def test_bad_lines_name_file_and_line(tmp_path, text, message):
    folder = write_folder(tmp_path / "a", files={"Shotput": text})
    with pytest.raises(AnnotationError, match=message):
        read_thumos14_folder(folder, "test")


def test_missing_class_file_and_folder(tmp_path):
    folder = write_folder(tmp_path / "a", files={"Shotput": "v 1 2\n"})
    (folder / "Diving_test.txt").unlink()
    with pytest.raises(AnnotationError, match="Diving_test.txt: annotation file of class 'Diving' not found"):
        read_thumos14_folder(folder, "test", class_names=THUMOS14_CLASSES)
    with pytest.raises(AnnotationError, match="folder not found"):
        read_thumos14_folder(tmp_path / "nowhere", "test")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(AnnotationError, match="no '<Class>_test.txt' annotation files"):
        read_thumos14_folder(empty, "test")


def test_folder_of_other_classes_and_class_list_file(tmp_path):
    folder = write_folder(tmp_path / "synthetic", classes=["wave", "clap"],
                          files={"clap": "v 1 2\n", "wave": "v 0 1\n"})
    videos, classes = read_thumos14_folder(folder, "test")
    assert classes == ["clap", "wave"]
    assert videos[0].labels.tolist() == [1, 0]
    (folder / "detclasslist.txt").write_text("1 wave\n2 clap\n")
    assert read_thumos14_folder(folder, "test")[1] == ["wave", "clap"]
    assert read_thumos14_folder(folder, "test", class_names=["clap", "wave"])[1] == ["clap", "wave"]
    (folder / "detclasslist.txt").write_text("wave\n")
    with pytest.raises(AnnotationError, match="detclasslist.txt:1: expected 'class_id ClassName'"):
        read_thumos14_folder(folder, "test")


def actionformer_json(path):
    database = {
        "video_validation_0000051": {"subset": "Validation", "duration": 169.79, "fps": 30.0, "annotations": [
            {"label": "Billiards", "segment": [5.2, 10.6], "segment(frames)": [156.0, 318.0], "label_id": 2},
            {"label": "Ambiguous", "segment": [20.0, 22.0], "label_id": -1}]},
        "video_test_0000004": {"subset": "Test", "duration": 33.46, "fps": 30.0, "annotations": [
            {"label": "CliffDiving", "segment": [11.0, 12.0], "label_id": 4},
            {"label": "Diving", "segment": [11.0, 12.0], "label_id": 7}]},
    }
    path.write_text(json.dumps({"version": "Thumos14-30fps", "database": database}))
    return path


def test_activitynet_style_json(tmp_path):
    path = actionformer_json(tmp_path / "thumos14.json")
    videos, classes = read_thumos14_json(path, "val")
    assert classes == THUMOS14_CLASSES
    (video,) = videos
    assert (video.video_id, video.subset, video.duration, video.fps) == ("video_validation_0000051", "validation",
                                                                         169.79, 30.0)
    assert video.segments.tolist() == [[5.2, 10.6]] and video.labels.tolist() == [2]
    assert video.ambiguous.tolist() == [[20.0, 22.0]]
    test_videos, _ = read_thumos14(path, "test")
    assert test_videos[0].labels.tolist() == [4, 7]


def test_format_detection_and_common_entry_point(tmp_path):
    path = actionformer_json(tmp_path / "thumos14.json")
    folder = write_folder(tmp_path / "annotation", files={"Diving": "video_test_0000004 11 12\n"})
    assert detection_format(path) == detection_format(folder) == "thumos14"
    from_json, classes_json = read_detection_annotations(path, "test")
    from_folder, classes_folder = read_detection_annotations(folder, "test")
    assert classes_json == classes_folder == THUMOS14_CLASSES
    assert from_folder[0].video_id == from_json[0].video_id
    assert from_folder[0].labels.tolist() == [7]
