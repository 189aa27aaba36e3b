"""EPIC-Kitchens-55 action recognition (Damen et al., ECCV 2018), RGB frames, verb + noun.

Files of the ``epic-kitchens-55-annotations`` release, read with the csv module (quoted fields such
as ``all_nouns`` hold commas), UTF-8 with or without a BOM, any line ending:
- ``EPIC_train_action_labels.csv``: header ``uid,participant_id,video_id,narration,start_timestamp,
  stop_timestamp,start_frame,stop_frame,verb,verb_class,noun,noun_class,all_nouns,all_noun_classes``;
- ``EPIC_verb_classes.csv`` (``verb_id,class_key,verbs``, 125 rows) and ``EPIC_noun_classes.csv``
  (``noun_id,class_key,nouns``, 352 rows, of which the training set uses 331): the class names are
  the ``class_key`` values in id order, ids 0..N-1 each once;
- ``EPIC_test_s1_timestamps.csv`` / ``EPIC_test_s2_timestamps.csv`` (seen / unseen kitchens):
  ``uid,participant_id,video_id,start_timestamp,stop_timestamp,start_frame,stop_frame``, no labels.
Columns are found by header name; only ``uid, participant_id, video_id, start_frame, stop_frame``
(and ``verb_class, noun_class`` in the training file) are required. RGB frames at 60 fps:
``<root>/<participant_id>/<video_id>/frame_0000000001.jpg`` (10 digits, from 1).

Each action segment is one record: the video's frame folder restricted to
``[(start_frame - 1) / fps, stop_frame / fps)`` seconds, i.e. 0-based frames ``start_frame - 1 ..
stop_frame - 1`` when frame ``i`` is shown at ``i / fps``, labelled ``(verb_class, noun_class)`` (two
heads, see :mod:`vidaction.data.labels`), ``(-1, -1)`` on the test sets.

Decision: the test labels are private (S1/S2 are scored by the challenge server) and the release
defines no validation split, so 'val' holds out the training segments of ``val_participants`` and
'train' keeps the others; every held-out participant must occur in the training file, so that a typo
cannot silently leave the split empty. Every row of the file is checked, whichever split is read.
"""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path

from vidaction.data.errors import AnnotationError
from vidaction.data.formats.common import read_csv
from vidaction.data.records import VideoRecord

TRAIN_FILE = "EPIC_train_action_labels.csv"
TEST_FILES = {"test_s1": "EPIC_test_s1_timestamps.csv", "test_s2": "EPIC_test_s2_timestamps.csv"}
SUBSETS = ("train", "val", *TEST_FILES)
SEGMENT_COLUMNS = ("uid", "participant_id", "video_id", "start_frame", "stop_frame")
LABEL_COLUMNS = ("verb_class", "noun_class")


def _int(path: Path, number: int, row: dict[str, str], column: str) -> int:
    try:
        return int(row[column])
    except ValueError as exc:
        raise AnnotationError(path, number, f"{column} must be an integer, got {row[column]!r}") from exc


def _read_classes(path: Path, id_column: str) -> list[str]:
    by_id = {}
    for number, row in read_csv(path, (id_column, "class_key")):
        class_id = _int(path, number, row, id_column)
        if class_id in by_id:
            raise AnnotationError(path, number, f"{id_column} {class_id} listed twice")
        by_id[class_id] = row["class_key"]
    if sorted(by_id) != list(range(len(by_id))):
        raise AnnotationError(path, 0, f"{id_column} must run 0..{len(by_id) - 1} without gaps")
    return [by_id[i] for i in range(len(by_id))]


def _class(path: Path, number: int, row: dict[str, str], column: str, names: list[str]) -> int:
    index = _int(path, number, row, column)
    if not 0 <= index < len(names):
        raise AnnotationError(path, number, f"{column} {index} outside 0..{len(names) - 1}")
    return index


def read_epic55(annotations: str | Path, root: str | Path, subset: str, val_participants: Collection[str] = (),
                fps: float = 60.0) -> tuple[list[VideoRecord], list[str], list[str]]:
    """Records of ``subset`` ('train', 'val', 'test_s1' or 'test_s2'), verb and noun class names.

    'train' is the training CSV without ``val_participants`` (e.g. ``("P29", "P30")``), 'val' only
    those participants; 'val' needs at least one.
    """
    if subset not in SUBSETS:
        raise ValueError(f"EPIC-Kitchens-55 subset must be one of {list(SUBSETS)}, got {subset!r}")
    if subset == "val" and not val_participants:
        raise ValueError("EPIC-Kitchens-55's test labels are private, so a validation split holds out "
                         "training participants: give val_participants (data.val_participants)")
    annotations, root = Path(annotations), Path(root)
    verbs = _read_classes(annotations / "EPIC_verb_classes.csv", "verb_id")
    nouns = _read_classes(annotations / "EPIC_noun_classes.csv", "noun_id")
    labelled = subset in ("train", "val")
    path = annotations / (TRAIN_FILE if labelled else TEST_FILES[subset])
    rows = read_csv(path, SEGMENT_COLUMNS + (LABEL_COLUMNS if labelled else ()))
    held_out = set(val_participants)
    if labelled:
        unknown = sorted(held_out - {row["participant_id"] for _, row in rows})
        if unknown:
            raise AnnotationError(path, 0, f"val_participants {unknown} have no segments in this file")
    records = []
    for number, row in rows:
        participant = row["participant_id"]
        start, stop = _int(path, number, row, "start_frame"), _int(path, number, row, "stop_frame")
        if start < 1 or stop < start:
            raise AnnotationError(path, number, f"frames {start}..{stop}: need 1 <= start_frame <= stop_frame")
        meta = {"uid": row["uid"], "participant_id": participant, "video_id": row["video_id"],
                "start_frame": start, "stop_frame": stop}
        label = (-1, -1)
        if labelled:
            label = (_class(path, number, row, "verb_class", verbs), _class(path, number, row, "noun_class", nouns))
            meta["narration"] = row.get("narration", "")
            if (participant in held_out) != (subset == "val"):
                continue
        records.append(VideoRecord(str(root / participant / row["video_id"]), label, num_frames=stop - start + 1,
                                   start=(start - 1) / fps, end=stop / fps, meta=meta))
    return records, verbs, nouns
