"""Annotation readers on tiny files in each published format, and errors that name file and line."""

import json

import pytest

from vidaction.config import ConfigError, DataConfig
from vidaction.data.build import read_annotations
from vidaction.data.errors import AnnotationError
from vidaction.data.formats.kinetics import read_kinetics
from vidaction.data.formats.something import read_sthv1, read_sthv2
from vidaction.data.formats.ucf101 import read_ucf101


def write(path, text, newline="\n"):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.replace("\n", newline).encode())
    return path


def test_annotation_error_names_file_and_line(tmp_path):
    error = AnnotationError(tmp_path / "list.txt", 7, "unknown class 'x'")
    assert str(error) == f"{tmp_path / 'list.txt'}:7: unknown class 'x'"
    assert (error.line_no, error.reason) == (7, "unknown class 'x'")
    assert str(AnnotationError("a.json", 0, "annotation file not found")) == "a.json: annotation file not found"


@pytest.fixture
def ucf(tmp_path):
    ann = tmp_path / "ucfTrainTestlist"
    write(ann / "classInd.txt", "1 ApplyEyeMakeup\n2 Archery\n", newline="\r\n")
    write(ann / "trainlist01.txt", "ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi 1\nArchery/v_Archery_g08_c01.avi 2\n",
          newline="\r\n")
    write(ann / "testlist01.txt", "ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.avi\nArchery/v_Archery_g01_c01.avi\n",
          newline="\r\n")
    return ann


def test_ucf101_train_and_test_lists(ucf, tmp_path):
    records, classes = read_ucf101(ucf, tmp_path / "UCF-101", 1, "train")
    assert classes == ["ApplyEyeMakeup", "Archery"]
    assert [(r.path, r.label) for r in records] == [
        (str(tmp_path / "UCF-101/ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi"), 0),
        (str(tmp_path / "UCF-101/Archery/v_Archery_g08_c01.avi"), 1)]
    test, _ = read_ucf101(ucf, tmp_path / "UCF-101", 1, "val")
    assert [r.label for r in test] == [0, 1] and test[1].path.endswith("UCF-101/Archery/v_Archery_g01_c01.avi")


@pytest.mark.parametrize("name, text, message", [
    ("trainlist01.txt", "ApplyEyeMakeup/a.avi 1\nArchery/b.avi 1\n",
     r"trainlist01.txt:2: label 1 disagrees with folder 'Archery' \(class 2 in classInd.txt\)"),
    ("testlist01.txt", "Archery/a.avi\n\nBowling/b.avi\n", r"testlist01.txt:3: unknown class 'Bowling'"),
    ("trainlist01.txt", "Archery/a.avi two\n", r"trainlist01.txt:1: expected '<Class>/<video> \[label\]'"),
    ("classInd.txt", "1 ApplyEyeMakeup\n3 Archery\n", r"classInd.txt: class indices must be 1..N"),
    ("classInd.txt", "1 ApplyEyeMakeup\nArchery\n", r"classInd.txt:2: expected '<index> <ClassName>'"),
])
def test_ucf101_errors(ucf, tmp_path, name, text, message):
    write(ucf / name, text)
    with pytest.raises(AnnotationError, match=message):
        read_ucf101(ucf, tmp_path, 1, "train" if name.startswith("train") else "val")


def test_ucf101_missing_split_file(ucf, tmp_path):
    with pytest.raises(AnnotationError, match=r"trainlist02.txt: annotation file not found"):
        read_ucf101(ucf, tmp_path, 2, "train")


def test_something_v1(tmp_path):
    write(tmp_path / "something-something-v1-labels.csv",
          "Holding something\nPushing something from left to right\n", newline="\r\n")
    write(tmp_path / "something-something-v1-train.csv",
          "100218;Pushing something from left to right\n42;Holding something\n")
    write(tmp_path / "something-something-v1-validation.csv", "7;Holding something\n8;Dancing\n")
    records, classes = read_sthv1(tmp_path, tmp_path / "20bn-something-something-v1", "train")
    assert classes == ["Holding something", "Pushing something from left to right"]
    assert [(r.path, r.label, r.meta["id"]) for r in records] == [
        (str(tmp_path / "20bn-something-something-v1/100218"), 1, "100218"),
        (str(tmp_path / "20bn-something-something-v1/42"), 0, "42")]
    with pytest.raises(AnnotationError, match=r"validation.csv:2: unknown class 'Dancing'"):
        read_sthv1(tmp_path, tmp_path, "val")
    write(tmp_path / "something-something-v1-validation.csv", "7 Holding something\n")
    with pytest.raises(AnnotationError, match=r"validation.csv:1: expected '<id>;<class>'"):
        read_sthv1(tmp_path, tmp_path, "val")


@pytest.fixture
def sthv2(tmp_path):
    labels = {"Holding something": "1", "Putting something on a surface": "0",
              "Pushing something from left to right": "2"}
    write(tmp_path / "something-something-v2-labels.json", json.dumps(labels))
    train = [{"id": "78687", "label": "putting a cup on a table", "template": "Putting [something] on a surface",
              "placeholders": ["a cup"]},
             {"id": "42326", "label": "pushing pen from left to right",
              "template": "Pushing [something] from left to right", "placeholders": ["pen"]}]
    write(tmp_path / "something-something-v2-train.json", json.dumps(train, indent=1))
    write(tmp_path / "something-something-v2-validation.json",
          json.dumps([{"id": "1", "label": "juggling balls", "template": "Juggling [something]", "placeholders": []}]))
    return tmp_path


def test_something_v2(sthv2):
    records, classes = read_sthv2(sthv2, sthv2 / "videos", "train")
    assert classes == ["Putting something on a surface", "Holding something", "Pushing something from left to right"]
    assert [(r.path, r.label) for r in records] == [(str(sthv2 / "videos/78687.webm"), 0),
                                                     (str(sthv2 / "videos/42326.webm"), 2)]
    assert records[0].meta == {"id": "78687", "label_text": "putting a cup on a table"}
    mp4, _ = read_sthv2(sthv2, sthv2 / "videos", "train", video_template="{}.mp4")
    assert mp4[1].path == str(sthv2 / "videos/42326.mp4")


def test_something_v2_errors(sthv2):
    with pytest.raises(AnnotationError, match=r"validation.json: entry 0 \(id 1\): unknown class 'Juggling something'"):
        read_sthv2(sthv2, sthv2, "val")
    write(sthv2 / "something-something-v2-train.json", '[{"id": "1",\n "label": ')
    with pytest.raises(AnnotationError, match=r"train.json:2: not valid JSON"):
        read_sthv2(sthv2, sthv2, "train")
    write(sthv2 / "something-something-v2-train.json", '[{"id": "1"}]')
    with pytest.raises(AnnotationError, match=r"train.json: entry 0 lacks 'id' or 'template'"):
        read_sthv2(sthv2, sthv2, "train")
    write(sthv2 / "something-something-v2-labels.json", '{"Holding something": "0", "Dropping something": "2"}')
    with pytest.raises(AnnotationError, match=r"labels.json: class indices must be 0..1"):
        read_sthv2(sthv2, sthv2, "train")


@pytest.fixture
def kinetics(tmp_path):
    header = "label,youtube_id,time_start,time_end,split,is_cc\n"
    write(tmp_path / "train.csv", header + "air drumming,-0Qw8ZV3W9o,13,23,train,0\n"
                                           "abseiling,--07WQ2iBlw,1,11,train,0\n"
                                           '"passing American football (in game)",xyz,0,10,train,0\n')
    write(tmp_path / "validate.csv", header + "air drumming,abc,0,10,val,0\nyodelling,qqq,3,13,val,0\n")
    write(tmp_path / "test.csv", "youtube_id,time_start,time_end,split\nqqq,0,10,test\n")
    return tmp_path


def test_kinetics(kinetics):
    records, classes = read_kinetics(kinetics, kinetics / "k400", "train")
    assert classes == ["abseiling", "air drumming", "passing American football (in game)"]
    assert [r.label for r in records] == [1, 0, 2]
    assert records[1].path == str(kinetics / "k400/train/abseiling/--07WQ2iBlw_000001_000011.mp4")
    assert records[1].meta == {"youtube_id": "--07WQ2iBlw", "time_start": 1, "time_end": 11}
    assert records[1].start is None and records[1].end is None
    flat, _ = read_kinetics(kinetics, kinetics / "k400", "train", "{youtube_id}_{time_start:06d}_{time_end:06d}.mp4")
    assert flat[0].path == str(kinetics / "k400/-0Qw8ZV3W9o_000013_000023.mp4")
    test, _ = read_kinetics(kinetics, kinetics / "k400", "test", "{split}/{youtube_id}.mp4")
    assert [(r.label, r.path) for r in test] == [(-1, str(kinetics / "k400/test/qqq.mp4"))]


def test_kinetics_errors(kinetics):
    with pytest.raises(AnnotationError, match=r"validate.csv:3: unknown class 'yodelling' \(not in train.csv\)"):
        read_kinetics(kinetics, kinetics, "val")
    write(kinetics / "validate.csv", "label,youtube_id,time_start,time_end,split\nabseiling,abc,zero,10,val\n")
    with pytest.raises(AnnotationError, match=r"validate.csv:2: time_start/time_end must be numbers"):
        read_kinetics(kinetics, kinetics, "val")
    write(kinetics / "validate.csv", "label,youtube_id,time_start,time_end,split\nabseiling,abc\n")
    with pytest.raises(AnnotationError, match=r"validate.csv:2: row has no value for column\(s\) \['time_start', 'time_end'\]"):
        read_kinetics(kinetics, kinetics, "val")
    write(kinetics / "validate.csv", "label,id,start,end\n")
    with pytest.raises(AnnotationError, match=r"validate.csv:1: header lacks column\(s\) \['youtube_id', 'time_start'"):
        read_kinetics(kinetics, kinetics, "val")
    with pytest.raises(ConfigError, match="data.video_template '{id}.mp4' cannot be filled"):
        read_kinetics(kinetics, kinetics, "train", "{id}.mp4")


def list_cfg(tmp_path, **kw):
    return DataConfig(format="list", root=str(tmp_path / "videos"), train_list=str(tmp_path / "train.txt"),
                      val_list=str(tmp_path / "val.txt"), **kw)


def test_generic_list_with_class_names_in_the_lines(tmp_path):
    write(tmp_path / "train.txt", "# comment\n\nwalk/a b.mp4 walk\nrun/c.mp4\trun\n/abs/d.mp4 1\n")
    write(tmp_path / "val.txt", "e.mp4 walk\nf.mp4 swim\n")
    records, classes = read_annotations(list_cfg(tmp_path), "train")
    assert classes == ["run", "walk"]
    assert [(r.path, r.label) for r in records] == [(str(tmp_path / "videos/walk/a b.mp4"), 1),
                                                     (str(tmp_path / "videos/run/c.mp4"), 0), ("/abs/d.mp4", 1)]
    with pytest.raises(AnnotationError, match=r"val.txt:2: unknown class 'swim'"):
        read_annotations(list_cfg(tmp_path), "val")


def test_generic_list_with_integer_labels_and_class_file(tmp_path):
    write(tmp_path / "train.txt", "a.mp4 0\nb.mp4 2\n")
    write(tmp_path / "val.txt", "c.mp4 1\n")
    records, classes = read_annotations(list_cfg(tmp_path), "val")
    assert classes == ["0", "1", "2"] and records[0].label == 1
    write(tmp_path / "names.txt", "jump\nrun\nswim\nwalk\n")
    write(tmp_path / "val.txt", "c.mp4 walk\nd.mp4 4\n")
    with pytest.raises(AnnotationError, match=r"val.txt:2: label 4 outside \[0, 4\)"):
        read_annotations(list_cfg(tmp_path, class_names=str(tmp_path / "names.txt")), "val")
    write(tmp_path / "val.txt", "just-a-path.mp4\n")
    with pytest.raises(AnnotationError, match=r"val.txt:1: expected '<path> <label>'"):
        read_annotations(list_cfg(tmp_path), "val")
    with pytest.raises(ValueError, match="split must be one of"):
        read_annotations(list_cfg(tmp_path), "test")
