"""File reading shared by the annotation readers: text lines, CSV rows with a header, JSON.

Text is UTF-8 with or without a BOM, or UTF-16 with a BOM (what spreadsheet programs write as
"Unicode text"); bytes that do not decode, malformed CSV and JSON (also numbers of more digits than
Python converts, and nesting deeper than the parser's stack) are :class:`AnnotationError` naming the
file and, where known, the line.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from vidaction.data.errors import AnnotationError


def read_text(path: str | Path) -> str:
    """The text of an annotation file; a missing file or undecodable bytes are an ``AnnotationError``."""
    path = Path(path)
    if not path.is_file():
        raise AnnotationError(path, 0, "annotation file not found")
    try:
        data = path.read_bytes()
    except OSError as exc:  # no read permission, an I/O error
        raise AnnotationError(path, 0, f"cannot read ({exc.strerror or exc})") from exc
    utf16 = data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE))
    encoding = "utf-16" if utf16 else "utf-8-sig"
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        line = data[:exc.start].decode(encoding, "replace").count("\n") + 1
        raise AnnotationError(path, line, f"not {'UTF-16' if utf16 else 'UTF-8'} text: {exc.reason} at byte "
                                          f"{exc.start}") from exc


def read_lines(path: str | Path) -> Iterator[tuple[int, str]]:
    """``(line_no, stripped line)`` for non-blank, non-``#`` lines; tolerant of CRLF and a BOM."""
    text = read_text(path)
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if line and not line.startswith("#"):
            yield number, line


def read_csv(path: str | Path, required: tuple[str, ...]) -> list[tuple[int, dict[str, str]]]:
    """``(line_no, row)`` of every data row of a CSV file with a header, values stripped; any line
    ending. A required column missing from the header or empty in a row, and a row with more fields
    than the header, are errors naming them."""
    reader = csv.DictReader(io.StringIO(read_text(path), newline=""))
    try:
        return _csv_rows(path, reader, required)
    except csv.Error as exc:  # e.g. a field longer than the csv module's limit
        raise AnnotationError(path, reader.line_num, f"malformed CSV: {exc}") from exc


def _csv_rows(path: str | Path, reader: csv.DictReader, required: tuple[str, ...]) -> list[tuple[int, dict[str, str]]]:
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
    """Parsed JSON of ``path``; a missing file or invalid JSON is an ``AnnotationError``."""
    text = read_text(path)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise AnnotationError(path, exc.lineno, f"not valid JSON: {exc.msg}") from exc
    except ValueError as exc:
        raise AnnotationError(path, 0, "not valid JSON: a number with more digits than can be read") from exc
    except RecursionError as exc:
        raise AnnotationError(path, 0, "not valid JSON: nested too deeply") from exc


def finite_number(value: Any) -> bool:
    """An int or float (not a bool) that is finite as a float (an int of 400 digits is not)."""
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def parse_index(text: str) -> int | None:
    """``text`` as a non-negative integer in ASCII digits; ``None`` for anything else ("²" is a digit to
    ``str.isdigit`` but not to ``int``) and for more digits than ``int`` converts."""
    if not (text.isascii() and text.isdigit()):
        return None
    try:
        return int(text)
    except ValueError:
        return None
