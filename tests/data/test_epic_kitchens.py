"""EPIC-Kitchens-55 reader: verb + noun labels, held-out participants, private test sets."""

import re

import pytest

from vidaction.data.errors import AnnotationError
from vidaction.data.formats.epic_kitchens import TRAIN_FILE, read_epic55

ROWS = ['0,P01,P01_01,open tap,00:00:00.01,00:00:01.00,1,60,open,0,tap,0,"[\'tap\', \'water\']","[0, 1]"\n',
        '1,P01,P01_01,put cup,00:00:02.00,00:00:03.00,121,180,put,1,cup,1,[\'cup\'],[1]\n',
        '2,P02,P02_03,take pan,00:00:05.00,00:00:06.00,301,360,take,0,pan,2,[\'pan\'],[2]\n']


def test_train_val_test_subsets(tmp_path, epic55):
    annotations = epic55.write_annotations(tmp_path / "ann", ROWS)
    records, verbs, nouns = read_epic55(annotations, tmp_path / "rgb", "train", val_participants=("P02",))
    assert verbs == ["take", "put"] and nouns == ["tap", "cup", "pan"]
    assert [r.label for r in records] == [(0, 0), (1, 1)]
    first = records[0]
    assert first.path == str(tmp_path / "rgb" / "P01" / "P01_01")
    assert (first.start, first.end, first.num_frames) == (0.0, 1.0, 60)
    assert first.meta == {"uid": "0", "participant_id": "P01", "video_id": "P01_01", "narration": "open tap",
                          "start_frame": 1, "stop_frame": 60}
    assert records[1].start == pytest.approx(120 / 60) and records[1].end == pytest.approx(180 / 60)
    val, _, _ = read_epic55(annotations, tmp_path / "rgb", "val", val_participants=("P02",))
    assert [r.label for r in val] == [(0, 2)] and val[0].path == str(tmp_path / "rgb" / "P02" / "P02_03")
    assert val[0].start == pytest.approx(300 / 60) and val[0].end == pytest.approx(360 / 60)
    assert len(read_epic55(annotations, tmp_path, "train")[0]) == 3


def test_test_sets_are_unlabelled(tmp_path, epic55):
    annotations = epic55.write_annotations(tmp_path / "ann", ROWS)
    s1, verbs, _ = read_epic55(annotations, tmp_path / "rgb", "test_s1")
    s2, _, _ = read_epic55(annotations, tmp_path / "rgb", "test_s2")
    assert verbs == ["take", "put"] and (len(s1), len(s2)) == (1, 2)
    assert {r.label for r in s1 + s2} == {(-1, -1)}
    assert s1[0].meta == {"uid": "9", "participant_id": "P01", "video_id": "P01_11", "start_frame": 61,
                          "stop_frame": 120}
    assert (s2[1].path, s2[1].start, s2[1].end) == (str(tmp_path / "rgb" / "P09" / "P09_07"), 3.0, 4.0)


def test_validation_needs_known_participants(tmp_path, epic55):
    annotations = epic55.write_annotations(tmp_path / "ann", ROWS)
    with pytest.raises(ValueError, match="test labels are private.*val_participants"):
        read_epic55(annotations, tmp_path, "val")
    with pytest.raises(AnnotationError, match=r"EPIC_train_action_labels.csv: val_participants \['P2'\] have no"):
        read_epic55(annotations, tmp_path, "train", val_participants=("P02", "P2"))
    with pytest.raises(ValueError, match="subset must be one of"):
        read_epic55(annotations, tmp_path, "test")


def test_bom_crlf_and_quoted_fields(tmp_path, epic55):
    annotations = epic55.write_annotations(tmp_path / "ann", [])
    text = (epic55.header + ROWS[0]
            + '5,P01,P01_02,"wash, rinse",a,b,10,70,wash,1,cup,1,"[\'cup\', \'sink\']","[1, 2]"\n')
    (annotations / TRAIN_FILE).write_bytes(("\ufeff" + text).replace("\n", "\r\n").encode())
    records, _, _ = read_epic55(annotations, tmp_path, "train")
    assert [(r.label, r.meta["narration"], r.meta["start_frame"]) for r in records] == [
        ((0, 0), "open tap", 1), ((1, 1), "wash, rinse", 10)]



@pytest.mark.parametrize("row, message", [
    ("3,P01,P01_01,x,a,b,10,5,put,1,cup,1,[],[]\n", r":3: frames 10..5: need 1 <= start_frame <= stop_frame"),
    ("3,P01,P01_01,x,a,b,0,5,put,1,cup,1,[],[]\n", r":3: frames 0..5"),
    ("3,P01,P01_01,x,a,b,ten,50,put,1,cup,1,[],[]\n", r":3: start_frame must be an integer, got 'ten'"),
    ("3,P01,P01_01,x,a,b,1,50.5,put,1,cup,1,[],[]\n", r":3: stop_frame must be an integer, got '50.5'"),
    ("3,P01,P01_01,x,a,b,1,50,put,2,cup,1,[],[]\n", r":3: verb_class 2 outside 0..1"),
    ("3,P01,P01_01,x,a,b,1,50,put,-1,cup,1,[],[]\n", r":3: verb_class -1 outside 0..1"),
    ("3,P01,P01_01,x,a,b,1,50,put,1,cup,3,[],[]\n", r":3: noun_class 3 outside 0..2"),
    ("3,P01,P01_01,x,a,b,1,50,put,1,cup,,[],[]\n", r":3: row has no value for column\(s\) \['noun_class'\]"),
    ("3,P01,P01_01,x,a,b,1,50\n", r":3: row has no value for column\(s\) \['verb_class', 'noun_class'\]"),
    ("3,P01,P01_01,x,a,b,1,50,put,1,cup,1,['a', 'b'],[]\n", r":3: row has more fields than the header's 14"),
])
def test_malformed_rows_name_file_and_line(tmp_path, row, message, epic55):
    annotations = epic55.write_annotations(tmp_path / "ann", [ROWS[0], row])
    with pytest.raises(AnnotationError, match=re.escape(str(annotations / TRAIN_FILE)) + message):
        read_epic55(annotations, tmp_path, "train")


def test_held_out_rows_are_checked_when_reading_train(tmp_path, epic55):
    bad = "3,P02,P02_03,x,a,b,1,50,put,1,cup,9,[],[]\n"
    annotations = epic55.write_annotations(tmp_path / "ann", ROWS + [bad])
    with pytest.raises(AnnotationError, match=r"EPIC_train_action_labels.csv:5: noun_class 9 outside 0..2"):
        read_epic55(annotations, tmp_path, "train", val_participants=("P02",))


@pytest.mark.parametrize("name, header, message", [
    (TRAIN_FILE, "uid,participant_id,video_id,start_frame\n",
     r":1: header lacks column\(s\) \['stop_frame', 'verb_class', 'noun_class'\]"),
    ("EPIC_test_s1_timestamps.csv", "uid,participant_id,start_frame,stop_frame\n",
     r":1: header lacks column\(s\) \['video_id'\]"),
    ("EPIC_verb_classes.csv", "id,class_key,verbs\n0,take,[]\n", r":1: header lacks column\(s\) \['verb_id'\]"),
])
def test_missing_column_is_named(tmp_path, name, header, message, epic55):
    annotations = epic55.write_annotations(tmp_path / "ann", ROWS)
    (annotations / name).write_text(header)
    subset = "test_s1" if "test" in name else "train"
    with pytest.raises(AnnotationError, match=re.escape(str(annotations / name)) + message):
        read_epic55(annotations, tmp_path, subset)


@pytest.mark.parametrize("text, message", [
    ("noun_id,class_key,nouns\n0,tap,[]\n0,cup,[]\n", r":3: noun_id 0 listed twice"),
    ("noun_id,class_key,nouns\n0,tap,[]\n2,cup,[]\n", r": noun_id must run 0..1 without gaps"),
    ("noun_id,class_key,nouns\nzero,tap,[]\n", r":2: noun_id must be an integer, got 'zero'"),
])
def test_class_list_errors(tmp_path, text, message, epic55):
    annotations = epic55.write_annotations(tmp_path / "ann", ROWS)
    (annotations / "EPIC_noun_classes.csv").write_text(text)
    with pytest.raises(AnnotationError, match=re.escape(str(annotations / "EPIC_noun_classes.csv")) + message):
        read_epic55(annotations, tmp_path, "train")


def test_missing_file(tmp_path, epic55):
    annotations = epic55.write_annotations(tmp_path / "ann", ROWS)
    (annotations / "EPIC_test_s2_timestamps.csv").unlink()
    with pytest.raises(AnnotationError, match=r"EPIC_test_s2_timestamps.csv: annotation file not found"):
        read_epic55(annotations, tmp_path, "test_s2")
