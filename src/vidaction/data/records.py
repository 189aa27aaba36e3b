"""The one record type every annotation reader returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class VideoRecord:
    """A labelled video file or frame folder.

    ``label`` is the class index, -1 when unknown (a test set); datasets with several heads
    (EPIC-Kitchens' verb and noun) give one index per head as a tuple. ``num_frames`` is the frame count an
    annotation states, if any; the dataset trusts the reader's count. ``start``/``end`` (seconds,
    ``None`` = the file's own start/end) restrict sampling to a part of the file. ``meta`` keeps
    format-specific fields (ids, source times) for reporting.
    """

    path: str
    label: int | tuple[int, ...]
    num_frames: int | None = None
    start: float | None = None
    end: float | None = None
    meta: dict[str, Any] = field(default_factory=dict)
