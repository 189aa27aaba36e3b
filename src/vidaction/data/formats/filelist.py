"""A generic list: ``<path> <label>`` per line, the label an integer index or a class name (the last
whitespace-separated token, so paths may contain spaces); ``#`` comments and blank lines skipped.
Relative paths are joined to the root.

Class names come from an optional file (one name per line, index = line order); without it they
are the sorted label names of the training list, or, for integer labels, ``"0" .. "K-1"`` with
``K`` one more than the largest training label, so the train and val splits agree on ``K``.
"""

from __future__ import annotations

from pathlib import Path

from vidaction.data.errors import AnnotationError
from vidaction.data.formats.common import parse_index, read_lines
from vidaction.data.records import VideoRecord

MAX_INTEGER_CLASSES = 100_000
"""Integer labels without a class-name file make ``max + 1`` classes; a larger label is taken for a typo."""


def _split_line(path: str | Path, number: int, line: str) -> tuple[str, str]:
    parts = line.rsplit(maxsplit=1)
    if len(parts) != 2:
        raise AnnotationError(path, number, f"expected '<path> <label>', got {line!r}")
    return parts[0], parts[1]


def _index(text: str) -> int | None:
    """The integer label ``text`` (ASCII digits, maybe negative); ``None`` for a class name."""
    value = parse_index(text.removeprefix("-"))
    return None if value is None else -value if text.startswith("-") else value


def read_filelist(path: str | Path, root: str | Path, class_names: list[str]) -> list[VideoRecord]:
    """Records of one list file; labels checked against ``class_names``."""
    index = {name: i for i, name in enumerate(class_names)}
    records = []
    for number, line in read_lines(path):
        video, label_text = _split_line(path, number, line)
        label = _index(label_text)
        if label is not None:
            if not 0 <= label < len(class_names):
                raise AnnotationError(path, number, f"label {label} outside [0, {len(class_names)})")
        elif label_text in index:
            label = index[label_text]
        else:
            raise AnnotationError(path, number, f"unknown class {label_text!r}")
        records.append(VideoRecord(str(Path(root) / video), label))
    return records


def filelist_class_names(train_list: str | Path, class_file: str | Path | None = None) -> list[str]:
    """Class names in label order: ``class_file`` if given, else derived from the training list."""
    if class_file:
        return [line for _, line in read_lines(class_file)]
    labels = [_split_line(train_list, number, line)[1] for number, line in read_lines(train_list)]
    indices = [_index(label) for label in labels]
    if labels and None not in indices:
        if max(indices) >= MAX_INTEGER_CLASSES:
            number = next(n for (n, _), i in zip(read_lines(train_list), indices) if i == max(indices))
            raise AnnotationError(train_list, number, f"label {max(indices)}: integer labels name classes "
                                  f"0..{MAX_INTEGER_CLASSES - 1}; give a class-name file for more")
        return [str(i) for i in range(max(indices) + 1)]
    return sorted({label for label, index in zip(labels, indices) if index is None})
