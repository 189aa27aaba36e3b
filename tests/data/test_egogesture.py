"""EgoGesture classification-benchmark reader."""

import pytest

from vidaction.data.errors import AnnotationError
from vidaction.data.formats.egogesture import SUBJECTS, read_egogesture


def write_labels(root, subject, scene, group, text):
    path = root / f"subject{subject:02d}" / f"Scene{scene}" / f"Group{group}.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def make_tree(tmp_path, subsets=("train", "val", "test")):
    labels = tmp_path / "labels-final-revised1"
    for subset in subsets:
        for subject in SUBJECTS[subset]:
            write_labels(labels, subject, 1, 1, "5,10,40\r\n83,41,90,\r\n")
            write_labels(labels, subject, 2, 3, "1,1,30\n")
    return labels


def test_split_sizes_labels_and_times(tmp_path):
    labels = make_tree(tmp_path)
    assert len(SUBJECTS["train"]) == 30 and not set(SUBJECTS["train"]) & set(SUBJECTS["val"] + SUBJECTS["test"])
    records, classes = read_egogesture(labels, tmp_path / "images", "test", fps=30.0)
    assert len(classes) == 83 and len(records) == 3 * 10
    first = records[0]
    assert first.path == str(tmp_path / "images" / "Subject02" / "Scene1" / "Color" / "rgb1")
    assert first.label == 4 and first.num_frames == 31
    assert first.start == pytest.approx(9 / 30) and first.end == pytest.approx(40 / 30)
    assert records[1].label == 82 and records[2].meta["group"] == 3
    assert len(read_egogesture(labels, tmp_path / "images", "train")[0]) == 90


def test_header_line_is_skipped_and_errors_name_file_and_line(tmp_path):
    labels = make_tree(tmp_path, ("val",))
    write_labels(labels, 1, 1, 1, "label,start,end\n5,10,40\n")
    assert len(read_egogesture(labels, tmp_path, "val")[0]) == 3 * 10 - 1
    bad = write_labels(labels, 1, 1, 1, "5,10,40\n84,1,3\n")
    with pytest.raises(AnnotationError, match=rf"{bad}:2: class 84 outside 1..83"):
        read_egogesture(labels, tmp_path, "val")
    bad = write_labels(labels, 1, 1, 1, "5,40,10\n")
    with pytest.raises(AnnotationError, match=r":1: frames 40..10"):
        read_egogesture(labels, tmp_path, "val")
    bad = write_labels(labels, 1, 1, 1, "5,10\n")
    with pytest.raises(AnnotationError, match=r":1: expected 'label,start,end'"):
        read_egogesture(labels, tmp_path, "val")
    with pytest.raises(AnnotationError, match="subject 2 not found"):
        read_egogesture(labels, tmp_path, "test")
    with pytest.raises(AnnotationError, match="not found"):
        read_egogesture(tmp_path / "missing", tmp_path, "val")
