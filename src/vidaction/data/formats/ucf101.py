"""UCF101 splits as published in ``ucfTrainTestlist``.

``classInd.txt``: ``1 ApplyEyeMakeup`` (1-based); ``trainlistNN.txt``:
``ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi 1`` (1-based label, must agree with the folder);
``testlistNN.txt``: ``ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.avi`` (label from the folder).
Paths are relative to the videos root.
"""

from __future__ import annotations

from pathlib import Path

from vidaction.data.errors import AnnotationError
from vidaction.data.formats.common import parse_index, read_lines
from vidaction.data.records import VideoRecord


def read_class_index(path: str | Path) -> list[str]:
    """Class names of ``classInd.txt`` in label order (label = published index - 1)."""
    names: dict[int, str] = {}
    for number, line in read_lines(path):
        parts = line.split()
        if len(parts) != 2 or parse_index(parts[0]) is None:
            raise AnnotationError(path, number, f"expected '<index> <ClassName>', got {line!r}")
        names[int(parts[0])] = parts[1]
    if sorted(names) != list(range(1, len(names) + 1)):
        raise AnnotationError(path, 0, "class indices must be 1..N without gaps")
    return [names[i] for i in range(1, len(names) + 1)]


def read_ucf101(annotations: str | Path, root: str | Path, split: int,
                subset: str) -> tuple[list[VideoRecord], list[str]]:
    """Records of ``subset`` ('train' or 'val'/'test') of split ``split`` (1-3)."""
    annotations, root = Path(annotations), Path(root)
    classes = read_class_index(annotations / "classInd.txt")
    index = {name: i for i, name in enumerate(classes)}
    list_file = annotations / (f"trainlist{split:02d}.txt" if subset == "train" else f"testlist{split:02d}.txt")
    records = []
    for number, line in read_lines(list_file):
        parts = line.split()
        relative = parts[0]
        folder = relative.split("/")[0]
        if folder not in index:
            raise AnnotationError(list_file, number, f"unknown class {folder!r} (not in classInd.txt)")
        label = index[folder]
        if len(parts) > 2 or (len(parts) == 2 and parse_index(parts[1]) is None):
            raise AnnotationError(list_file, number, f"expected '<Class>/<video> [label]', got {line!r}")
        if len(parts) == 2 and int(parts[1]) - 1 != label:
            raise AnnotationError(list_file, number, f"label {parts[1]} disagrees with folder {folder!r} "
                                  f"(class {label + 1} in classInd.txt)")
        records.append(VideoRecord(str(root / relative), label))
    return records, classes
