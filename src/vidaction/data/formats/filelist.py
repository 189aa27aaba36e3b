"""A generic list: ``path label`` per line, the label an integer or a class name; ``#`` comments
and blank lines are skipped. Class names come from an optional file (one per line) or, for name
labels, from the sorted names of the training list. Relative paths are joined to the root."""

from __future__ import annotations

from pathlib import Path

from vidaction.data.errors import AnnotationError
from vidaction.data.formats.common import read_lines
from vidaction.data.records import VideoRecord


def read_filelist(path: str | Path, root: str | Path, class_names: list[str] | None) -> list[VideoRecord]:
    records = []
    index = {name: i for i, name in enumerate(class_names or [])}
    for number, line in read_lines(path):
        video, _, label_text = line.rpartition(" ")
        if not video.strip():
            raise AnnotationError(path, number, f"expected '<path> <label>', got {line!r}")
        if label_text.lstrip("-").isdigit():
            label = int(label_text)
            if class_names and not 0 <= label < len(class_names):
                raise AnnotationError(path, number, f"label {label} outside [0, {len(class_names)})")
        elif label_text in index:
            label = index[label_text]
        else:
            raise AnnotationError(path, number, f"unknown class {label_text!r}")
        records.append(VideoRecord(str(Path(root) / video.strip()), label))
    return records


def list_class_names(train_list: str | Path, class_file: str | Path | None) -> list[str] | None:
    """Class names from ``class_file``, else sorted label names of the training list (None if numeric)."""
    if class_file:
        return [line for _, line in read_lines(class_file)]
    names = {line.rpartition(" ")[2] for _, line in read_lines(train_list)}
    return None if all(n.lstrip("-").isdigit() for n in names) else sorted(names)
