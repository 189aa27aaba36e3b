"""Something-Something v1 and v2 annotations as released by TwentyBN.

v1: ``something-something-v1-labels.csv`` (one class per line, index = line order),
``something-something-v1-{train,validation}.csv`` with ``<id>;<class text>`` lines; frames in
``root/<id>/00001.jpg``.
v2: ``something-something-v2-labels.json`` (``{"<class>": "<index>"}``),
``something-something-v2-{train,validation}.json`` (a list of ``{"id", "label", "template",
"placeholders"}``): the class is the ``template`` with ``[`` and ``]`` removed; videos
``root/<id>.webm`` (``video_template``).
"""

from __future__ import annotations

from pathlib import Path

from vidaction.data.errors import AnnotationError
from vidaction.data.formats.common import load_json, read_lines
from vidaction.data.records import VideoRecord

SUBSET_FILES = {"train": "train", "val": "validation", "validation": "validation"}


def read_sthv1(annotations: str | Path, root: str | Path, subset: str) -> tuple[list[VideoRecord], list[str]]:
    """Records of ``subset`` ('train' or 'val'), each the frame folder ``root/<id>``, and the class names."""
    annotations, root = Path(annotations), Path(root)
    classes = [line for _, line in read_lines(annotations / "something-something-v1-labels.csv")]
    index = {name: i for i, name in enumerate(classes)}
    path = annotations / f"something-something-v1-{SUBSET_FILES[subset]}.csv"
    records = []
    for number, line in read_lines(path):
        video_id, sep, name = (part.strip() for part in line.partition(";"))
        if not sep or not video_id:
            raise AnnotationError(path, number, f"expected '<id>;<class>', got {line!r}")
        if name not in index:
            raise AnnotationError(path, number, f"unknown class {name!r}")
        records.append(VideoRecord(str(root / video_id), index[name], meta={"id": video_id}))
    return records, classes


def read_sthv2(annotations: str | Path, root: str | Path, subset: str,
               video_template: str = "{}.webm") -> tuple[list[VideoRecord], list[str]]:
    """Records of ``subset`` ('train' or 'val'), each ``root / video_template.format(id)``, and the
    class names; JSON entries have no line numbers, so errors name the entry's position and id."""
    annotations, root = Path(annotations), Path(root)
    labels_path = annotations / "something-something-v2-labels.json"
    labels = load_json(labels_path)
    try:
        by_index = {int(v): k for k, v in labels.items()}
    except (AttributeError, TypeError, ValueError, OverflowError) as exc:
        raise AnnotationError(labels_path, 0, "expected {\"<class>\": \"<index>\"}") from exc
    if sorted(by_index) != list(range(len(labels))):
        raise AnnotationError(labels_path, 0, f"class indices must be 0..{len(labels) - 1}, each once")
    classes = [by_index[i] for i in range(len(by_index))]
    index = {name: i for i, name in enumerate(classes)}
    path = annotations / f"something-something-v2-{SUBSET_FILES[subset]}.json"
    entries = load_json(path)
    if not isinstance(entries, list):
        raise AnnotationError(path, 0, "expected a JSON list of {\"id\", \"template\", ...} entries")
    records = []
    for position, item in enumerate(entries):
        if not isinstance(item, dict) or "id" not in item or "template" not in item:
            raise AnnotationError(path, 0, f"entry {position} lacks 'id' or 'template'")
        if not isinstance(item["template"], str):
            raise AnnotationError(path, 0, f"entry {position}: 'template' must be a string, got {item['template']!r}")
        if isinstance(item["id"], bool) or not isinstance(item["id"], (str, int)) or not str(item["id"]).isprintable():
            raise AnnotationError(path, 0, f"entry {position}: 'id' must be a number or a printable string, "
                                  f"got {item['id']!r}")
        name = item["template"].replace("[", "").replace("]", "")
        if name not in index:
            raise AnnotationError(path, 0, f"entry {position} (id {item['id']}): unknown class {name!r}")
        records.append(VideoRecord(str(root / video_template.format(item["id"])), index[name],
                                   meta={"id": str(item["id"]), "label_text": item.get("label", "")}))
    return records, classes
