"""Kinetics CSVs as released by DeepMind: header ``label,youtube_id,time_start,time_end,split``
(further columns such as ``is_cc`` ignored; ``test.csv`` of some releases has no ``label``). Clips
are stored as ``{youtube_id}_{time_start:06d}_{time_end:06d}.mp4``; ``video_template`` places them
under the root, by default in ``{split}/{label}/`` folders (``{youtube_id}_...mp4`` for a flat
layout). Classes are the training labels sorted alphabetically, the usual index order.
The clips are already cut, so the source times go to ``meta``, not to the record's ``start``/``end``.
"""

from __future__ import annotations

from pathlib import Path

from vidaction.config import ConfigError
from vidaction.data.errors import AnnotationError
from vidaction.data.formats.common import read_csv
from vidaction.data.records import VideoRecord

DEFAULT_TEMPLATE = "{split}/{label}/{youtube_id}_{time_start:06d}_{time_end:06d}.mp4"
SUBSET_FILES = {"train": "train.csv", "val": "validate.csv", "test": "test.csv"}
REQUIRED_COLUMNS = ("youtube_id", "time_start", "time_end")


def _video_path(template: str, **fields) -> str:
    try:
        return template.format(**fields)
    except (KeyError, IndexError, ValueError) as exc:
        raise ConfigError(f"data.video_template {template!r} cannot be filled ({exc}); it may use "
                          f"{{split}} {{label}} {{youtube_id}} {{time_start}} {{time_end}}") from exc


def read_kinetics(annotations: str | Path, root: str | Path, subset: str,
                  video_template: str = "") -> tuple[list[VideoRecord], list[str]]:
    """Records of ``subset`` ('train', 'val' or 'test') and the sorted class names of ``train.csv``."""
    annotations, root = Path(annotations), Path(root)
    template = video_template or DEFAULT_TEMPLATE
    train_rows = read_csv(annotations / SUBSET_FILES["train"], REQUIRED_COLUMNS)
    classes = sorted({row["label"] for _, row in train_rows if row.get("label")})
    index = {name: i for i, name in enumerate(classes)}
    path = annotations / SUBSET_FILES[subset]
    rows = train_rows if subset == "train" else read_csv(path, REQUIRED_COLUMNS)
    records = []
    for number, row in rows:
        label_name = row.get("label") or ""
        if label_name and label_name not in index:
            raise AnnotationError(path, number, f"unknown class {label_name!r} (not in train.csv)")
        try:
            start, end = int(float(row["time_start"])), int(float(row["time_end"]))
        except (ValueError, OverflowError) as exc:
            raise AnnotationError(path, number, "time_start/time_end must be numbers") from exc
        relative = _video_path(template, split=row.get("split") or subset, label=label_name,
                               youtube_id=row["youtube_id"], time_start=start, time_end=end)
        records.append(VideoRecord(str(root / relative), index.get(label_name, -1),
                                   meta={"youtube_id": row["youtube_id"], "time_start": start, "time_end": end}))
    return records, classes
