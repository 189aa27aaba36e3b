"""File reading shared by the annotation readers: text lines, CSV rows with a header, JSON."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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


def read_csv(path: str | Path, required: tuple[str, ...]) -> list[tuple[int, dict[str, str]]]:
    """``(line_no, row)`` of every data row of a CSV file with a header, values stripped; UTF-8 with or
    without a BOM, any line ending. A required column missing from the header or empty in a row, and a
    row with more fields than the header, are errors naming them."""
    path = Path(path)
    if not path.is_file():
        raise AnnotationError(path, 0, "annotation file not found")
    with path.open(newline="", encoding="utf-8-sig") as stream:
        reader = csv.DictReader(stream)
        missing = [c for c in required if c not in (reader.fieldnames or [])]
        if missing:
            raise AnnotationError(path, 1, f"header lacks column(s) {missing}")
        rows = []
        for row in reader:
            if None in row:
                raise AnnotationError(path, reader.line_num, f"row has more fields than the header's "
                                                             f"{len(reader.fieldnames)}")
            row = {column: (value or "").strip() for column, value in row.items()}
            empty = [c for c in required if not row[c]]
            if empty:
                raise AnnotationError(path, reader.line_num, f"row has no value for column(s) {empty}")
            rows.append((reader.line_num, row))
        return rows


def load_json(path: str | Path) -> Any:
    """Parsed JSON of ``path`` (UTF-8 with or without a BOM); a missing file or invalid JSON is an
    ``AnnotationError``."""
    path = Path(path)
    if not path.is_file():
        raise AnnotationError(path, 0, "annotation file not found")
    try:
        return json.loads(path.read_text(encoding="utf-8-sig"))
    except json.JSONDecodeError as exc:
        raise AnnotationError(path, exc.lineno, f"not valid JSON: {exc.msg}") from exc
