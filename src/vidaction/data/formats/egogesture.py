"""EgoGesture (Zhang et al., T-MM 2018), classification benchmark, RGB frames.

Layout of the release: frames ``images/SubjectXX/SceneY/Color/rgbZ/000001.jpg`` (6 digits, from 1,
30 fps, one folder per recorded group Z); labels ``labels-final-revised1/subjectXX/SceneY/GroupZ.csv``
(lower-case ``subject`` in the label tree), one gesture per line ``label,start,end``: class 1..83
and the 1-based, inclusive first and last frame of the gesture (extra empty fields are ignored).
Each gesture is one record: the group's frame folder restricted to ``[(start - 1) / fps, end / fps)``
seconds, i.e. frames ``start .. end``, with the 0-based class ``label - 1``.

The classification benchmark splits by subject (the dataset paper's protocol): 10 validation and 10
test subjects, the other 30 for training (W3 Sec. 4 "We followed the classification benchmark").
"""

from __future__ import annotations

import re
from pathlib import Path

from vidaction.data.errors import AnnotationError
from vidaction.data.formats.common import read_lines
from vidaction.data.records import VideoRecord

NUM_CLASSES = 83
NUM_SUBJECTS = 50
SUBJECTS = {
    "val": (1, 7, 12, 13, 24, 29, 33, 34, 35, 37),
    "test": (2, 9, 11, 14, 18, 19, 28, 31, 41, 47),
}
SUBJECTS["train"] = tuple(s for s in range(1, NUM_SUBJECTS + 1) if s not in SUBJECTS["val"] + SUBJECTS["test"])
GROUP_FILE = re.compile(r"Group(\d+)\.csv$", re.IGNORECASE)


def _parse_line(path: Path, number: int, line: str) -> tuple[int, int, int] | None:
    fields = [f.strip() for f in line.split(",") if f.strip()]
    if number == 1 and fields and not fields[0].lstrip("-").isdigit():
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


def read_egogesture(annotations: str | Path, root: str | Path, subset: str, fps: float = 30.0,
                    class_names: list[str] | None = None) -> tuple[list[VideoRecord], list[str]]:
    """Gesture records of ``subset`` ('train', 'val' or 'test') and the 83 class names.

    ``annotations`` is the ``labels-final-revised1`` folder, ``root`` the ``images`` folder;
    ``class_names`` (83 names in class order) replaces the default ``"class 1" .. "class 83"``.
    """
    if subset not in SUBJECTS:
        raise ValueError(f"EgoGesture subset must be one of {list(SUBJECTS)}, got {subset!r}")
    annotations, root = Path(annotations), Path(root)
    if not annotations.is_dir():
        raise AnnotationError(annotations, 0, "EgoGesture label folder (labels-final-revised1) not found")
    names = list(class_names) if class_names else [f"class {i}" for i in range(1, NUM_CLASSES + 1)]
    if len(names) != NUM_CLASSES:
        raise ValueError(f"EgoGesture has {NUM_CLASSES} classes, got {len(names)} class names")
    records = []
    for subject in SUBJECTS[subset]:
        subject_dir = annotations / f"subject{subject:02d}"
        if not subject_dir.is_dir():
            raise AnnotationError(subject_dir, 0, f"label folder of subject {subject} not found")
        for path in sorted(subject_dir.glob("Scene*/Group*.csv"), key=lambda p: (p.parent.name, p.name)):
            scene = path.parent.name
            group = int(GROUP_FILE.search(path.name).group(1))
            folder = root / f"Subject{subject:02d}" / scene / "Color" / f"rgb{group}"
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
