"""The one record type every annotation reader returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class VideoRecord:
    """A labelled video (or frame folder). ``label`` is -1 when unknown (e.g. a test set)."""

    path: str
    label: int
    num_frames: int | None = None
    start: float | None = None
    end: float | None = None
    meta: dict[str, Any] = field(default_factory=dict)
