"""Line reading shared by the text annotation readers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from vidaction.data.errors import AnnotationError


def read_lines(path: str | Path) -> Iterator[tuple[int, str]]:
    """``(line_no, stripped line)`` for non-blank, non-``#`` lines; tolerant of CRLF and a BOM."""
    path = Path(path)
    if not path.is_file():
        raise AnnotationError(path, 0, "annotation file not found")
    text = path.read_text(encoding="utf-8-sig")
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if line and not line.startswith("#"):
            yield number, line
