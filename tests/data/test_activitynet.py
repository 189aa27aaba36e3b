"""ActivityNet v1.3 JSON reader, the detection-format dispatch and class lists."""

import json

import pytest

from vidaction.data.errors import AnnotationError
from vidaction.data.formats.activitynet import canonical_subset, read_activitynet
from vidaction.data.formats.detection import detection_format, read_class_list, read_detection_annotations


def anet_json(path, database=None):
    database = database if database is not None else {
        "sJFgo9H6zNo": {"subset": "validation", "duration": 139.042, "resolution": "640x360",
                        "url": "https://www.youtube.com/watch?v=sJFgo9H6zNo", "annotations": [
                            {"segment": [89.5, 130.0], "label": "Mooping floor"},
                            {"segment": [0.0, 0.0], "label": "Washing hands"},
                            {"segment": [10.0, 140.5], "label": "Mooping floor"}]},
        "V1GAp8Af2oc": {"subset": "training", "duration": 60.0, "annotations": [
            {"segment": [1.0, 5.0], "label": "Archery"}]},
        "zzzTest0001": {"subset": "testing", "duration": 30.0, "annotations": []},
        "aaaVal00002": {"subset": "validation", "duration": 50.0, "annotations": [
            {"segment": [3.0, 9.0], "label": "Washing hands"}]},
    }
    path.write_text(json.dumps({"version": "VERSION 1.3", "taxonomy": [], "database": database}))
    return path


def test_reads_subset_in_file_order_with_sorted_classes_of_the_whole_file(tmp_path):
    path = anet_json(tmp_path / "activity_net.v1-3.min.json")
    videos, classes = read_activitynet(path, "validation")
    assert classes == ["Archery", "Mooping floor", "Washing hands"]
    assert [v.video_id for v in videos] == ["sJFgo9H6zNo", "aaaVal00002"]
    first = videos[0]
    # Annotation order kept; the zero-length segment and the one past the duration are kept as annotated.
    assert first.segments.tolist() == [[89.5, 130.0], [0.0, 0.0], [10.0, 140.5]]
    assert first.labels.tolist() == [1, 2, 1]
    assert (first.duration, first.subset, first.fps) == (139.042, "validation", None)
    assert first.meta == {"resolution": "640x360", "url": "https://www.youtube.com/watch?v=sJFgo9H6zNo",
                          "file_stem": "v_sJFgo9H6zNo"}
    testing, _ = read_activitynet(path, "test")
    assert testing[0].segments.shape == (0, 2) and testing[0].subset == "testing"
    assert read_activitynet(path, "val", file_prefix="")[0][0].meta["file_stem"] == "sJFgo9H6zNo"


def test_explicit_class_list(tmp_path):
    path = anet_json(tmp_path / "a.json")
    videos, classes = read_activitynet(path, "validation", class_names=["Washing hands", "Mooping floor", "Archery"])
    assert classes == ["Washing hands", "Mooping floor", "Archery"]
    assert videos[0].labels.tolist() == [1, 0, 1]
    with pytest.raises(AnnotationError, match=r"annotations\[0\].label 'Mooping floor' is not one of the 2 classes; "
                                              r"did you mean 'Mopping floor'"):
        read_activitynet(path, "validation", class_names=["Mopping floor", "Washing hands"])


def test_optional_ambiguous_regions(tmp_path):
    path = anet_json(tmp_path / "a.json", {"v": {"subset": "validation", "ambiguous": [[4, 6], [9.5, 12]],
                                                 "annotations": [{"segment": [1, 2], "label": "x"}]}})
    (video,), _ = read_activitynet(path, "validation")
    assert video.ambiguous.tolist() == [[4.0, 6.0], [9.5, 12.0]]
    path = anet_json(tmp_path / "b.json", {"v": {"subset": "validation", "ambiguous": [[6, 4]], "annotations": []}})
    with pytest.raises(AnnotationError, match=r"database\['v'\].ambiguous\[0\].segment \[6, 4\]"):
        read_activitynet(path, "validation")


def test_subset_aliases():
    assert [canonical_subset(s) for s in ("train", "Val", "validation", "TEST", "testing", "other")] == \
        ["training", "validation", "validation", "testing", "testing", "other"]


@pytest.mark.parametrize("database, message", [
    ({"v": {"duration": 3.0, "annotations": []}}, r"database\['v'\] must be an object with a 'subset'"),
    ({"v": {"subset": "validation", "annotations": {}}}, r"database\['v'\].annotations must be a list"),
    ({"v": {"subset": "validation", "annotations": [{"segment": [5, 2], "label": "x"}]}},
     r"database\['v'\].annotations\[0\].segment \[5, 2\]: need 0 <= start <= end"),
    ({"v": {"subset": "validation", "annotations": [{"segment": [1, "two"], "label": "x"}]}},
     r"annotations\[0\].segment must be \[start, end\]"),
    ({"v": {"subset": "validation", "annotations": [{"segment": [1, 2]}]}},
     r"annotations\[0\] must be an object with 'segment' and 'label'"),
    ({"v": {"subset": "validation", "duration": "long", "annotations": []}}, r"database\['v'\].duration"),
    ({"v": {"subset": "training", "annotations": []}},
     r"no videos of subset 'validation'; subsets in the file: \{'training': 1\}"),
])
def test_bad_files_name_video_and_field(tmp_path, database, message):
    path = anet_json(tmp_path / "a.json", database)
    with pytest.raises(AnnotationError, match=message):
        read_activitynet(path, "validation")


def test_missing_database_missing_file_and_invalid_json(tmp_path):
    path = tmp_path / "a.json"
    path.write_text(json.dumps({"version": "1.3"}))
    with pytest.raises(AnnotationError, match="no 'database' object"):
        read_activitynet(path, "validation")
    with pytest.raises(AnnotationError, match="annotation file not found"):
        read_activitynet(tmp_path / "none.json", "validation")
    path.write_text('{"database": {\n\n}')
    with pytest.raises(AnnotationError, match=r"a.json:3: not valid JSON"):
        read_activitynet(path, "validation")


def test_detection_format_and_entry_point(tmp_path):
    path = anet_json(tmp_path / "a.json")
    assert detection_format(path) == "activitynet"
    videos, classes = read_detection_annotations(path, "val")
    assert len(videos) == 2 and len(classes) == 3
    thumos_like = anet_json(tmp_path / "t.json", {"x": {"subset": "Test", "annotations": [
        {"segment": [1, 2], "label": "Diving"}, {"segment": [3, 4], "label": "Ambiguous"}]}})
    assert detection_format(thumos_like) == "thumos14"
    (video,), classes = read_detection_annotations(thumos_like, "test")
    assert len(classes) == 20 and video.ambiguous.tolist() == [[3.0, 4.0]]
    path.write_text("[]")
    with pytest.raises(AnnotationError, match="neither a THUMOS14 annotation folder nor"):
        detection_format(path)


def test_class_list_file(tmp_path):
    path = tmp_path / "classes.txt"
    path.write_text("Mooping floor\nArchery\r\n\n")
    assert read_class_list(path) == ["Mooping floor", "Archery"]
    path.write_text("a\na\n")
    with pytest.raises(AnnotationError, match="not unique"):
        read_class_list(path)
