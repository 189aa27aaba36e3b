"""EPIC-Kitchens-55 reader: verb + noun labels, held-out participants, private test sets."""

import pytest

from vidaction.data.errors import AnnotationError
from vidaction.data.formats.epic_kitchens import read_epic55

HEADER = ("uid,participant_id,video_id,narration,start_timestamp,stop_timestamp,start_frame,stop_frame,"
          "verb,verb_class,noun,noun_class,all_nouns,all_noun_classes\n")


def write_annotations(folder, rows):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "EPIC_verb_classes.csv").write_text("verb_id,class_key,verbs\n0,take,\"['take', 'grab']\"\n1,put,['put']\n")
    (folder / "EPIC_noun_classes.csv").write_text("noun_id,class_key,nouns\n0,tap,['tap']\n1,cup,['cup']\n2,pan,['pan']\n")
    (folder / "EPIC_train_action_labels.csv").write_text(HEADER + "".join(rows))
    (folder / "EPIC_test_s1_timestamps.csv").write_text(
        "uid,participant_id,video_id,start_timestamp,stop_timestamp,start_frame,stop_frame\n"
        "9,P01,P01_11,00:00:01.00,00:00:02.00,61,120\n")
    return folder


ROWS = ['0,P01,P01_01,open tap,00:00:00.01,00:00:01.00,1,60,open,0,tap,0,"[\'tap\', \'water\']","[0, 1]"\n',
        '1,P01,P01_01,put cup,00:00:02.00,00:00:03.00,121,180,put,1,cup,1,[\'cup\'],[1]\n',
        '2,P02,P02_03,take pan,00:00:05.00,00:00:06.00,301,360,take,0,pan,2,[\'pan\'],[2]\n']


def test_train_val_test_subsets(tmp_path):
    annotations = write_annotations(tmp_path / "ann", ROWS)
    records, verbs, nouns = read_epic55(annotations, tmp_path / "rgb", "train", val_participants=("P02",))
    assert verbs == ["take", "put"] and nouns == ["tap", "cup", "pan"]
    assert [r.label for r in records] == [(0, 0), (1, 1)]
    first = records[0]
    assert first.path == str(tmp_path / "rgb" / "P01" / "P01_01")
    assert first.start == 0.0 and first.end == 1.0 and first.num_frames == 60
    assert first.meta["narration"] == "open tap" and first.meta["uid"] == "0"
    val, _, _ = read_epic55(annotations, tmp_path / "rgb", "val", val_participants=("P02",))
    assert [r.label for r in val] == [(0, 2)] and val[0].start == pytest.approx(300 / 60)
    test, _, _ = read_epic55(annotations, tmp_path / "rgb", "test_s1")
    assert [r.label for r in test] == [(-1, -1)] and test[0].meta["video_id"] == "P01_11"
    with pytest.raises(ValueError, match="val_participants"):
        read_epic55(annotations, tmp_path, "val")


@pytest.mark.parametrize("row, message", [
    ('3,P01,P01_01,x,a,b,10,5,put,1,cup,1,[],[]\n', r":2: frames 10..5"),
    ('3,P01,P01_01,x,a,b,ten,50,put,1,cup,1,[],[]\n', r":2: start_frame must be an integer"),
    ('3,P01,P01_01,x,a,b,1,50,put,7,cup,1,[],[]\n', r":2: verb_class 7 outside 0..1"),
    ('3,P01,P01_01,x,a,b,1,50,put,1,cup,3,[],[]\n', r":2: noun_class 3 outside 0..2"),
])
def test_malformed_rows_name_file_and_line(tmp_path, row, message):
    annotations = write_annotations(tmp_path / "ann", [row])
    with pytest.raises(AnnotationError, match=rf"EPIC_train_action_labels.csv{message}"):
        read_epic55(annotations, tmp_path, "train")


def test_missing_column_is_named(tmp_path):
    annotations = write_annotations(tmp_path / "ann", [])
    (annotations / "EPIC_train_action_labels.csv").write_text("uid,participant_id,video_id,start_frame\n")
    with pytest.raises(AnnotationError, match=r":1: header lacks column\(s\) \['stop_frame', 'verb_class', 'noun_class'\]"):
        read_epic55(annotations, tmp_path, "train")
