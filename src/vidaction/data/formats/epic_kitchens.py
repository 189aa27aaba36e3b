"""EPIC-Kitchens-55 action recognition (Damen et al., ECCV 2018), RGB frames, verb + noun.

Files of the ``epic-kitchens-55-annotations`` release:
- ``EPIC_train_action_labels.csv``: header ``uid,participant_id,video_id,narration,start_timestamp,
  stop_timestamp,start_frame,stop_frame,verb,verb_class,noun,noun_class,all_nouns,all_noun_classes``
  (``all_nouns`` is a quoted list, hence the csv module);
- ``EPIC_verb_classes.csv`` (``verb_id,class_key,verbs``, 125 rows) and ``EPIC_noun_classes.csv``
  (``noun_id,class_key,nouns``, 352 rows): class names are the ``class_key`` in id order;
- ``EPIC_test_s1_timestamps.csv`` / ``EPIC_test_s2_timestamps.csv`` (seen / unseen kitchens): the
  same segment columns without labels.
RGB frames at 60 fps: ``<root>/<participant_id>/<video_id>/frame_0000000001.jpg`` (10 digits, from 1).

Each action segment is one record: the video's frame folder restricted to
``[(start_frame - 1) / fps, stop_frame / fps)`` seconds, labelled ``(verb_class, noun_class)`` (two
heads, see :mod:`vidaction.data.labels`; ``(-1, -1)`` on the test sets, whose labels are private).
Since the test labels are private, a validation split holds out the training segments of
``val_participants`` (our decision: the release defines no validation split).
"""

from __future__ import annotations

import csv
from pathlib import Path

from vidaction.data.errors import AnnotationError
from vidaction.data.records import VideoRecord

TRAIN_FILE = "EPIC_train_action_labels.csv"
TEST_FILES = {"test_s1": "EPIC_test_s1_timestamps.csv", "test_s2": "EPIC_test_s2_timestamps.csv"}
SUBSETS = ("train", "val", *TEST_FILES)
SEGMENT_COLUMNS = ("uid", "participant_id", "video_id", "start_frame", "stop_frame")
LABEL_COLUMNS = ("verb_class", "noun_class")


def _read_csv(path: Path, required: tuple[str, ...]) -> list[tuple[int, dict[str, str]]]:
    if not path.is_file():
        raise AnnotationError(path, 0, "annotation file not found")
    with path.open(newline="", encoding="utf-8-sig") as stream:
        reader = csv.DictReader(stream)
        missing = [c for c in required if c not in (reader.fieldnames or [])]
        if missing:
            raise AnnotationError(path, 1, f"header lacks column(s) {missing}")
        return [(reader.line_num, row) for row in reader]


def _read_classes(path: Path, id_column: str) -> list[str]:
    rows = _read_csv(path, (id_column, "class_key"))
    by_id = {}
    for number, row in rows:
        try:
            by_id[int(row[id_column])] = row["class_key"].strip()
        except ValueError as exc:
            raise AnnotationError(path, number, f"{id_column} must be an integer, got {row[id_column]!r}") from exc
    if sorted(by_id) != list(range(len(by_id))):
        raise AnnotationError(path, 0, f"{id_column} must run 0..{len(by_id) - 1}, each once")
    return [by_id[i] for i in range(len(by_id))]


def _int(path: Path, number: int, row: dict[str, str], column: str) -> int:
    try:
        return int(row[column])
    except (TypeError, ValueError) as exc:
        raise AnnotationError(path, number, f"{column} must be an integer, got {row.get(column)!r}") from exc


def read_epic55(annotations: str | Path, root: str | Path, subset: str, val_participants: tuple[str, ...] = (),
                fps: float = 60.0) -> tuple[list[VideoRecord], list[str], list[str]]:
    """Records of ``subset`` ('train', 'val', 'test_s1' or 'test_s2'), verb and noun class names.

    'train' is the training CSV without ``val_participants``, 'val' only those participants.
    """
    if subset not in SUBSETS:
        raise ValueError(f"EPIC-Kitchens-55 subset must be one of {list(SUBSETS)}, got {subset!r}")
    if subset == "val" and not val_participants:
        raise ValueError("EPIC-Kitchens-55's test labels are private: a validation split needs "
                         "val_participants (data.val_participants), e.g. [P29, P30, P31]")
    annotations, root = Path(annotations), Path(root)
    verbs = _read_classes(annotations / "EPIC_verb_classes.csv", "verb_id")
    nouns = _read_classes(annotations / "EPIC_noun_classes.csv", "noun_id")
    labelled = subset in ("train", "val")
    path = annotations / (TRAIN_FILE if labelled else TEST_FILES[subset])
    rows = _read_csv(path, SEGMENT_COLUMNS + (LABEL_COLUMNS if labelled else ()))
    held_out = set(val_participants)
    records = []
    for number, row in rows:
        participant = row["participant_id"].strip()
        if labelled and (participant in held_out) != (subset == "val"):
            continue
        start, stop = _int(path, number, row, "start_frame"), _int(path, number, row, "stop_frame")
        if start < 1 or stop < start:
            raise AnnotationError(path, number, f"frames {start}..{stop}: need 1 <= start_frame <= stop_frame")
        label = (-1, -1)
        if labelled:
            verb, noun = _int(path, number, row, "verb_class"), _int(path, number, row, "noun_class")
            if not 0 <= verb < len(verbs):
                raise AnnotationError(path, number, f"verb_class {verb} outside 0..{len(verbs) - 1}")
            if not 0 <= noun < len(nouns):
                raise AnnotationError(path, number, f"noun_class {noun} outside 0..{len(nouns) - 1}")
            label = (verb, noun)
        meta = {"uid": row["uid"], "participant_id": participant, "video_id": row["video_id"],
                "start_frame": start, "stop_frame": stop}
        if labelled:
            meta["narration"] = row.get("narration", "")
        records.append(VideoRecord(str(root / participant / row["video_id"]), label, num_frames=stop - start + 1,
                                   start=(start - 1) / fps, end=stop / fps, meta=meta))
    return records, verbs, nouns
