"""EgoGesture (Zhang et al., T-MM 2018), classification benchmark, RGB frames.

Layout of the release: frames ``images/SubjectXX/SceneY/Color/rgbZ/000001.jpg`` (6 digits, from 1,
30 fps, one folder per recorded group Z); labels ``labels-final-revised1/subjectXX/SceneY/GroupZ.csv``
(lower-case ``subject`` in the label tree; a few group files are spelt ``groupZ.csv``, so both are
read; other entries such as ``.DS_Store`` are ignored). Each label file has no header and one gesture
per line, ``label,start,end``: the class 1..83 and the 1-based, inclusive first and last frame of the
gesture. Trailing empty fields (``5,10,40,``) are dropped and a line of empty fields (``,,``) counts
as blank; anything else is an error naming the file and line.

Each gesture is one record: the group's frame folder restricted to ``[(start - 1) / fps, end / fps)``
seconds, i.e. 0-based frames ``start - 1 .. end - 1`` when frame ``i`` is shown at ``i / fps``, with
the 0-based class ``label - 1``. Records come in subject, scene, group, line order.

The classification benchmark splits by subject (the dataset paper's protocol, W3 Sec. 4 "We followed
the classification benchmark"): 30 training, 10 validation and 10 test subjects, as listed below and
as used by public EgoGesture loaders.
"""

from __future__ import annotations

import re
from pathlib import Path

from vidaction.data.errors import AnnotationError
from vidaction.data.formats.common import read_lines
from vidaction.data.records import VideoRecord

NUM_CLASSES = 83
SUBJECTS = {
    "train": (3, 4, 5, 6, 8, 10, 15, 16, 17, 20, 21, 22, 23, 25, 26, 27, 30, 32, 36, 38, 39, 40, 42, 43, 44,
              45, 46, 48, 49, 50),
    "val": (1, 7, 12, 13, 24, 29, 33, 34, 35, 37),
    "test": (2, 9, 11, 14, 18, 19, 28, 31, 41, 47),
}
SCENE_FOLDER = re.compile(r"Scene(\d+)")
GROUP_FILE = re.compile(r"[Gg]roup(\d+)\.csv")


def _parse_line(path: Path, number: int, line: str) -> tuple[int, int, int] | None:
    """``(class, start, end)`` of a label line, ``None`` for a line of empty fields."""
    fields = [f.strip() for f in line.split(",")]
    while fields and not fields[-1]:
        fields.pop()
    if not fields:
        return None
    if len(fields) != 3:
        raise AnnotationError(path, number, f"expected 'label,start,end', got {line!r}")
    try:
        label, start, end = (int(f) for f in fields)
    except ValueError as exc:
        raise AnnotationError(path, number, f"label, start and end must be integers, got {line!r}") from exc
    if not 1 <= label <= NUM_CLASSES:
        raise AnnotationError(path, number, f"class {label} outside 1..{NUM_CLASSES}")
    if start < 1 or start > end:
        raise AnnotationError(path, number, f"frames {start}..{end}: need 1 <= start <= end")
    return label, start, end


def _group_files(subject_dir: Path) -> list[tuple[int, str, int, Path]]:
    """``(scene, scene folder name, group, label file)`` of a subject, in scene and group order."""
    found = []
    for scene_dir in subject_dir.iterdir():
        scene = SCENE_FOLDER.fullmatch(scene_dir.name)
        if scene is None or not scene_dir.is_dir():
            continue
        for path in scene_dir.iterdir():
            group = GROUP_FILE.fullmatch(path.name)
            if group is not None and path.is_file():
                found.append((int(scene.group(1)), scene_dir.name, int(group.group(1)), path))
    return sorted(found)


def read_egogesture(annotations: str | Path, root: str | Path, subset: str, fps: float = 30.0,
                    class_names: list[str] | None = None) -> tuple[list[VideoRecord], list[str]]:
    """Gesture records of ``subset`` ('train', 'val' or 'test') and the 83 class names.

    ``annotations`` is the ``labels-final-revised1`` folder, ``root`` the ``images`` folder;
    ``class_names`` (83 names in class order) replaces the default ``"class 1" .. "class 83"``.
    """
    if subset not in SUBJECTS:
        raise ValueError(f"EgoGesture subset must be one of {list(SUBJECTS)}, got {subset!r}")
    names = list(class_names) if class_names is not None else [f"class {i}" for i in range(1, NUM_CLASSES + 1)]
    if len(names) != NUM_CLASSES:
        raise ValueError(f"EgoGesture has {NUM_CLASSES} classes, got {len(names)} class names")
    annotations, root = Path(annotations), Path(root)
    if not annotations.is_dir():
        raise AnnotationError(annotations, 0, "EgoGesture label folder (labels-final-revised1) not found")
    records = []
    for subject in SUBJECTS[subset]:
        subject_dir = annotations / f"subject{subject:02d}"
        if not subject_dir.is_dir():
            raise AnnotationError(subject_dir, 0, f"label folder of subject {subject} not found")
        group_files = _group_files(subject_dir)
        if not group_files:
            raise AnnotationError(subject_dir, 0, "no SceneY/GroupZ.csv label files")
        for scene, scene_name, group, path in group_files:
            folder = root / f"Subject{subject:02d}" / scene_name / "Color" / f"rgb{group}"
            for number, line in read_lines(path):
                parsed = _parse_line(path, number, line)
                if parsed is None:
                    continue
                label, start, end = parsed
                records.append(VideoRecord(str(folder), label - 1, num_frames=end - start + 1,
                                           start=(start - 1) / fps, end=end / fps,
                                           meta={"subject": subject, "scene": scene, "group": group,
                                                 "start_frame": start, "end_frame": end}))
    return records, names
