"""Annotation readers on tiny files in each published format, and their error messages."""

import json

import pytest

from vidaction.config import DataConfig
from vidaction.data.build import read_annotations
from vidaction.data.errors import AnnotationError
from vidaction.data.formats.kinetics import read_kinetics
from vidaction.data.formats.something import read_sthv1, read_sthv2
from vidaction.data.formats.ucf101 import read_ucf101


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.fixture
def ucf(tmp_path):
    ann = tmp_path / "ucfTrainTestlist"
    write(ann / "classInd.txt", "1 ApplyEyeMakeup\r\n2 Archery\r\n")
    write(ann / "trainlist01.txt", "ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi 1\nArchery/v_Archery_g08_c01.avi 2\n")
    write(ann / "testlist01.txt", "Archery/v_Archery_g01_c01.avi\n")
    return ann


def test_ucf101(ucf, tmp_path):
    records, classes = read_ucf101(ucf, tmp_path / "videos", 1, "train")
    assert classes == ["ApplyEyeMakeup", "Archery"]
    assert [(r.path.split("/")[-1], r.label) for r in records] == [("v_ApplyEyeMakeup_g08_c01.avi", 0),
                                                                   ("v_Archery_g08_c01.avi", 1)]
    test, _ = read_ucf101(ucf, tmp_path / "videos", 1, "val")
    assert test[0].label == 1 and test[0].path.endswith("videos/Archery/v_Archery_g01_c01.avi")


def test_ucf101_errors_name_file_and_line(ucf, tmp_path):
    write(ucf / "trainlist01.txt", "ApplyEyeMakeup/a.avi 1\nArchery/b.avi 1\n")
    with pytest.raises(AnnotationError, match=r"trainlist01.txt:2: label 1 disagrees with folder 'Archery'"):
        read_ucf101(ucf, tmp_path, 1, "train")
    write(ucf / "testlist01.txt", "Archery/a.avi\nBowling/b.avi\n")
    with pytest.raises(AnnotationError, match=r"testlist01.txt:2: unknown class 'Bowling'"):
        read_ucf101(ucf, tmp_path, 1, "val")
    with pytest.raises(AnnotationError, match=r"trainlist02.txt: annotation file not found"):
        read_ucf101(ucf, tmp_path, 2, "train")


def test_something_v1(tmp_path):
    write(tmp_path / "something-something-v1-labels.csv", "Holding something\nPushing something from left to right\n")
    write(tmp_path / "something-something-v1-train.csv", "100218;Pushing something from left to right\n42;Holding something\n")
    write(tmp_path / "something-something-v1-validation.csv", "7;Holding something\n8;Dancing\n")
    records, classes = read_sthv1(tmp_path, tmp_path / "frames", "train")
    assert classes[1] == "Pushing something from left to right"
    assert (records[0].label, records[0].path.endswith("frames/100218")) == (1, True)
    with pytest.raises(AnnotationError, match=r"validation.csv:2: unknown class 'Dancing'"):
        read_sthv1(tmp_path, tmp_path, "val")


def test_something_v2(tmp_path):
    labels = {"Holding something": "1", "Putting something on a surface": "0"}
    write(tmp_path / "something-something-v2-labels.json", json.dumps(labels))
    train = [{"id": "78687", "label": "putting a cup on a table", "template": "Putting [something] on a surface",
              "placeholders": ["a cup"]}]
    write(tmp_path / "something-something-v2-train.json", json.dumps(train))
    write(tmp_path / "something-something-v2-validation.json", "[{\"id\": \"1\", \"template\": \"Juggling [something]\"}]")
    records, classes = read_sthv2(tmp_path, tmp_path / "v", "train")
    assert classes == ["Putting something on a surface", "Holding something"]
    assert records[0].label == 0 and records[0].path.endswith("v/78687.webm")
    with pytest.raises(AnnotationError, match="id 1.*unknown class 'Juggling something'"):
        read_sthv2(tmp_path, tmp_path, "val")
    write(tmp_path / "something-something-v2-train.json", "[{\"id\": ")
    with pytest.raises(AnnotationError, match="invalid JSON"):
        read_sthv2(tmp_path, tmp_path, "train")


def test_kinetics(tmp_path):
    write(tmp_path / "train.csv", "label,youtube_id,time_start,time_end,split\nabseiling,--07WQ2iBlw,1,11,train\n"
                                  "air drumming,-0Qw8ZV3W9o,13,23,train\n")
    write(tmp_path / "validate.csv", "label,youtube_id,time_start,time_end,split\nair drumming,abc,0,10,val\n"
                                     "yodelling,xyz,3,13,val\n")
    records, classes = read_kinetics(tmp_path, tmp_path / "k400", "train")
    assert classes == ["abseiling", "air drumming"]
    assert records[0].path.endswith("k400/train/abseiling/--07WQ2iBlw_000001_000011.mp4")
    with pytest.raises(AnnotationError, match=r"validate.csv:3: unknown class 'yodelling'"):
        read_kinetics(tmp_path, tmp_path, "val")
    write(tmp_path / "test.csv", "youtube_id,time_start,time_end,split\nqqq,0,10,test\n")
    test, _ = read_kinetics(tmp_path, tmp_path, "test", "{youtube_id}.mp4")
    assert test[0].label == -1 and test[0].path.endswith("qqq.mp4")


def test_generic_list(tmp_path):
    write(tmp_path / "train.txt", "# comment\n\na/x y.mp4 jump\nb.mp4 run\n")
    write(tmp_path / "val.txt", "c.mp4 run\nd.mp4 swim\n")
    cfg = DataConfig(format="list", root=str(tmp_path), train_list=str(tmp_path / "train.txt"),
                     val_list=str(tmp_path / "val.txt"))
    records, classes = read_annotations(cfg, "train")
    assert classes == ["jump", "run"] and records[0].path.endswith("a/x y.mp4") and records[1].label == 1
    with pytest.raises(AnnotationError, match=r"val.txt:2: unknown class 'swim'"):
        read_annotations(cfg, "val")
