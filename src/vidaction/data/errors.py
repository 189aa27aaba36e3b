"""Errors of the data layer; each names the file (and line) at fault."""

from __future__ import annotations

from pathlib import Path


class VideoDecodeError(RuntimeError):
    """A video or frame folder cannot be read: missing, corrupt, truncated or without frames."""

    def __init__(self, path: str | Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = str(path)
        self.reason = reason


class AnnotationError(ValueError):
    """An annotation file is missing or malformed; ``line_no`` is 1-based (0 = the whole file)."""

    def __init__(self, path: str | Path, line_no: int, reason: str) -> None:
        where = f"{path}:{line_no}" if line_no else str(path)
        super().__init__(f"{where}: {reason}")
        self.path = str(path)
        self.line_no = line_no
        self.reason = reason
