"""Kinetics CSVs as released by DeepMind: ``label,youtube_id,time_start,time_end,split``
(``test.csv`` of some releases has no ``label`` column). Clips are stored as
``{youtube_id}_{time_start:06d}_{time_end:06d}.mp4``; ``video_template`` places them under the root
(default ``{split}/{label}/{youtube_id}_{time_start:06d}_{time_end:06d}.mp4``). Classes sorted
alphabetically, the usual index order.
"""

from __future__ import annotations

import csv
from pathlib import Path

from vidaction.data.errors import AnnotationError
from vidaction.data.records import VideoRecord

DEFAULT_TEMPLATE = "{split}/{label}/{youtube_id}_{time_start:06d}_{time_end:06d}.mp4"
SUBSET_FILES = {"train": "train.csv", "val": "validate.csv", "test": "test.csv"}


def _read_rows(path: Path) -> list[tuple[int, dict]]:
    if not path.is_file():
        raise AnnotationError(path, 0, "annotation file not found")
    with path.open(newline="", encoding="utf-8-sig") as stream:
        reader = csv.DictReader(stream)
        missing = {"youtube_id", "time_start", "time_end"} - set(reader.fieldnames or [])
        if missing:
            raise AnnotationError(path, 1, f"header lacks {sorted(missing)}")
        return [(number, row) for number, row in enumerate(reader, 2)]


def read_kinetics(annotations: str | Path, root: str | Path, subset: str,
                  video_template: str = "") -> tuple[list[VideoRecord], list[str]]:
    annotations, root = Path(annotations), Path(root)
    template = video_template or DEFAULT_TEMPLATE
    train_rows = _read_rows(annotations / SUBSET_FILES["train"])
    classes = sorted({row["label"] for _, row in train_rows if row.get("label")})
    index = {name: i for i, name in enumerate(classes)}
    path = annotations / SUBSET_FILES[subset]
    rows = train_rows if subset == "train" else _read_rows(path)
    records = []
    for number, row in rows:
        label_name = row.get("label") or ""
        if label_name and label_name not in index:
            raise AnnotationError(path, number, f"unknown class {label_name!r} (not in train.csv)")
        try:
            start, end = int(float(row["time_start"])), int(float(row["time_end"]))
        except ValueError as exc:
            raise AnnotationError(path, number, "time_start/time_end must be numbers") from exc
        relative = template.format(split=row.get("split", subset), label=label_name, youtube_id=row["youtube_id"],
                                   time_start=start, time_end=end)
        records.append(VideoRecord(str(root / relative), index.get(label_name, -1), start=start, end=end,
                                   meta={"youtube_id": row["youtube_id"]}))
    return records, classes
