"""EgoGesture classification-benchmark reader on tiny label trees written by the tests."""

import re

import numpy as np
import pytest

from vidaction.data.errors import AnnotationError
from vidaction.data.formats.egogesture import NUM_CLASSES, SUBJECTS, read_egogesture


def test_benchmark_subjects_partition_the_fifty():
    sizes = {subset: len(subjects) for subset, subjects in SUBJECTS.items()}
    assert sizes == {"train": 30, "val": 10, "test": 10}
    assert sorted(SUBJECTS["train"] + SUBJECTS["val"] + SUBJECTS["test"]) == list(range(1, 51))


def test_counts_per_split_labels_and_times(tmp_path, egogesture):
    labels = egogesture.make_tree(tmp_path)
    counts = {subset: len(read_egogesture(labels, tmp_path / "images", subset)[0]) for subset in SUBJECTS}
    assert counts == {"train": 90, "val": 30, "test": 30}
    records, classes = read_egogesture(labels, tmp_path / "images", "test", fps=30.0)
    assert classes == [f"class {i}" for i in range(1, 84)]
    first, second, third = records[:3]
    assert first.path == str(tmp_path / "images" / "Subject02" / "Scene1" / "Color" / "rgb1")
    assert (first.label, first.num_frames) == (4, 31)
    assert first.start == pytest.approx(9 / 30) and first.end == pytest.approx(40 / 30)
    assert (second.label, second.num_frames) == (82, 50)
    assert third.path == str(tmp_path / "images" / "Subject02" / "Scene2" / "Color" / "rgb3")
    assert (third.label, third.start, third.end) == (0, 0.0, 1.0)
    assert third.meta == {"subject": 2, "scene": 2, "group": 3, "start_frame": 1, "end_frame": 30}
    assert [r.meta["subject"] for r in records[::3]] == list(SUBJECTS["test"])


def test_seconds_select_exactly_the_annotated_frames(tmp_path, egogesture):
    labels = egogesture.make_tree(tmp_path, ("val",))
    record = read_egogesture(labels, tmp_path, "val", fps=30.0)[0][0]
    times = np.arange(200) / 30.0
    first = np.searchsorted(times, record.start, side="left")
    stop = np.searchsorted(times, record.end, side="left")
    assert (first, stop) == (10 - 1, 40)


def test_class_names_argument(tmp_path, egogesture):
    labels = egogesture.make_tree(tmp_path, ("val",))
    names = [f"gesture {i}" for i in range(NUM_CLASSES)]
    assert read_egogesture(labels, tmp_path, "val", class_names=names)[1] == names
    with pytest.raises(ValueError, match="83 classes, got 2 class names"):
        read_egogesture(labels, tmp_path, "val", class_names=["a", "b"])


def test_numeric_order_lowercase_group_files_and_foreign_entries(tmp_path, egogesture):
    labels = egogesture.make_tree(tmp_path, ("val",))
    subject = labels / "subject01"
    egogesture.write_labels(labels, 1, 1, 10, "2,1,5\n")
    egogesture.write_labels(labels, 1, 10, 2, "3,1,5\n", name="group{}.csv")
    (subject / ".DS_Store").write_bytes(b"\0")
    (subject / "Scene1" / "Group1.csv.bak").write_text("not,a,label\n")
    records = [r for r in read_egogesture(labels, tmp_path, "val")[0] if r.meta["subject"] == 1]
    assert [(r.meta["scene"], r.meta["group"]) for r in records] == [(1, 1), (1, 1), (1, 10), (2, 3), (10, 2)]
    assert records[-1].path.endswith("Subject01/Scene10/Color/rgb2") and records[-1].label == 2


def test_crlf_bom_blank_and_empty_field_lines(tmp_path, egogesture):
    labels = egogesture.make_tree(tmp_path, ("val",))
    egogesture.write_labels(labels, 1, 1, 1, "7,3,12\r\n\r\n,,\r\n8,20,25,,\r\n", encoding="utf-8-sig")
    records = [r for r in read_egogesture(labels, tmp_path, "val")[0] if r.meta["subject"] == 1]
    assert [(r.label, r.meta["start_frame"], r.meta["end_frame"]) for r in records] == [
        (6, 3, 12), (7, 20, 25), (0, 1, 30)]


@pytest.mark.parametrize("text, message", [
    ("5,10,40\n84,1,3\n", r":2: class 84 outside 1..83"),
    ("0,1,3\n", r":1: class 0 outside 1..83"),
    ("5,40,10\n", r":1: frames 40..10: need 1 <= start <= end"),
    ("5,0,10\n", r":1: frames 0..10"),
    ("5,10\n", r":1: expected 'label,start,end', got '5,10'"),
    ("5,,10,40\n", r":1: expected 'label,start,end'"),
    ("5,10,40\n\nlabel,start,end\n", r":3: label, start and end must be integers"),
    ("5,10.5,40\n", r":1: label, start and end must be integers"),
])
def test_malformed_lines_name_file_and_line(tmp_path, text, message, egogesture):
    labels = egogesture.make_tree(tmp_path, ("val",))
    bad = egogesture.write_labels(labels, 7, 2, 3, text)
    with pytest.raises(AnnotationError, match=re.escape(str(bad)) + message):
        read_egogesture(labels, tmp_path, "val")


def test_missing_folders_and_subset(tmp_path, egogesture):
    labels = egogesture.make_tree(tmp_path, ("val",))
    with pytest.raises(AnnotationError, match=re.escape(str(labels / "subject02")) + ": label folder of subject 2"):
        read_egogesture(labels, tmp_path, "test")
    with pytest.raises(AnnotationError, match=re.escape(str(tmp_path / "missing")) + ": EgoGesture label folder"):
        read_egogesture(tmp_path / "missing", tmp_path, "val")
    for path in (labels / "subject13").rglob("*.csv"):
        path.unlink()
    with pytest.raises(AnnotationError, match=re.escape(str(labels / "subject13")) + ": no SceneY/GroupZ.csv"):
        read_egogesture(labels, tmp_path, "val")
    with pytest.raises(ValueError, match="subset must be one of"):
        read_egogesture(labels, tmp_path, "validation")
