"""Work on many videos spread over torchrun's processes, with outputs that survive a crash.

- :func:`read_list_file`: the videos a text file lists (``--list``).
- :func:`process_share` and :func:`take_share`: process ``rank`` of ``world_size`` takes every
  ``world_size``-th item of the sorted list from position ``rank`` (``sorted(items)[rank::world_size]``),
  the same split on every machine and on every rerun; alone, a process takes everything. The ranks
  come from torchrun's environment (``RANK``, ``WORLD_SIZE``): the group is joined only at the end
  (:func:`gather_at_end`), so the work in between never waits on a collective and a process may
  handle any number of videos.
- :func:`gather_at_end`: joins the group (gloo on CPU, NCCL on CUDA), waits for every process and
  gives rank 0 every process's summary; :func:`finish_shares` then has rank 0 merge the part files
  and add up the processes' :class:`ShareSummary`.
- :class:`JsonLinesWriter` and :func:`read_json_lines`: a part file of one JSON object per line,
  appended and flushed line by line, so a killed process loses at most the line it was writing; a
  partial last line is ignored when read and cut off before appending.
- :func:`part_path` and :func:`part_files`: the part file of each rank beside the output
  (``OUT.rank<r>.part``); the merged output is written with :func:`vidaction.io.atomic_write_text`,
  so it is either the previous one or the whole new one.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, TypeVar

from vidaction.engine import distributed
from vidaction.engine.runtime import distributed_session

T = TypeVar("T")


@dataclass
class ShareSummary:
    """What one process did with its share: videos done, skipped (already in the output) and failed
    (``"path: reason"``)."""

    done: int = 0
    skipped: int = 0
    failed: list[str] = field(default_factory=list)


def read_list_file(path: str | Path) -> list[str]:
    """The paths listed in ``path``, one per line; blank lines and ``#`` comments are skipped."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"list file not found: {path}")
    lines = (line.strip() for line in path.read_text(encoding="utf-8").splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def process_share() -> tuple[int, int]:
    """``(rank, world_size)`` of this process under torchrun, ``(0, 1)`` when run alone."""
    return int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))


def take_share(items: Iterable[T], key: Callable[[T], Any] = str) -> list[T]:
    """This process's items: ``sorted(items, key=key)[rank::world_size]``."""
    rank, world_size = process_share()
    return sorted(items, key=key)[rank::world_size]


def gather_at_end(summary: T) -> list[T] | None:
    """Wait for every process and collect their ``summary``: the list (in rank order) on rank 0,
    ``None`` on the others; ``[summary]`` when run alone."""
    rank, world_size = process_share()
    if world_size == 1:
        return [summary]
    with distributed_session():
        gathered = distributed.all_gather_objects(summary)
    return gathered if rank == 0 else None


def finish_shares(summary: ShareSummary, merge: Callable[[], Any]) -> ShareSummary | None:
    """After this process's share: wait for every process (:func:`gather_at_end`); on rank 0 call
    ``merge()`` (the part files into the output) and return the summary of all processes, ``None``
    on the others."""
    parts = gather_at_end(summary)
    if parts is None:
        return None
    merge()
    return ShareSummary(sum(part.done for part in parts), sum(part.skipped for part in parts),
                        [failure for part in parts for failure in part.failed])


def part_path(out: str | Path, rank: int) -> Path:
    """The part file of ``rank`` for output ``out``: ``OUT.rank<rank>.part`` beside it."""
    out = Path(out)
    return out.with_name(f"{out.name}.rank{rank}.part")


def part_files(out: str | Path) -> list[Path]:
    """The part files left beside ``out`` by any rank of any run, sorted."""
    out = Path(out)
    return sorted(out.parent.glob(f"{out.name}.rank*.part"))


def read_json_lines(path: str | Path) -> list[dict[str, Any]]:
    """The complete lines of ``path`` that hold a JSON object; a partial last line (no newline, a
    process killed while writing it) and unparsable lines are left out. A missing file gives ``[]``."""
    path = Path(path)
    if not path.is_file():
        return []
    records = []
    for line in path.read_bytes().split(b"\n")[:-1]:
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict):
            records.append(record)
    return records


class JsonLinesWriter:
    """Append JSON objects to ``path``, one per line, each flushed to the file as it is written; a
    partial last line left by a crash is cut off first. A context manager."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.is_file():
            data = self.path.read_bytes()
            if data and not data.endswith(b"\n"):
                os.truncate(self.path, data.rfind(b"\n") + 1)
        self._stream: IO[str] = open(self.path, "a", encoding="utf-8")

    def write(self, record: dict[str, Any]) -> None:
        self._stream.write(json.dumps(record) + "\n")
        self._stream.flush()

    def close(self) -> None:
        self._stream.close()

    def __enter__(self) -> JsonLinesWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def remove_parts(parts: Sequence[Path]) -> None:
    """Delete merged part files."""
    for part in parts:
        part.unlink(missing_ok=True)
