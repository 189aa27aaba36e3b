"""Atomic file writes: a crash mid-write never leaves a half-written checkpoint or feature file behind.

A write that the file system refuses (no space left, a read-only or missing folder, no permission)
raises :class:`FileWriteError` naming the file and the reason; the file's previous version, if any,
is left as it was and the temporary file is removed.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import torch


class FileWriteError(OSError):
    """The file system refused a write; the file's previous version is intact."""


def _refused(path: Path, exc: OSError) -> FileWriteError:
    kept = f"the previous {path.name} is intact" if path.is_file() else "nothing was written"
    return FileWriteError(exc.errno, f"cannot write {path}: {exc.strerror or exc} ({kept})")


def atomic_write(path: str | Path, write: Callable[[IO[bytes]], Any]) -> Path:
    """Call ``write(stream)`` on a temporary file in the target folder, fsync, then rename over ``path``."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise _refused(path, exc) from exc
    try:
        with os.fdopen(handle, "wb") as stream:
            write(stream)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise _refused(path, exc) from exc
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: str | Path, text: str) -> Path:
    """``text`` (UTF-8) through :func:`atomic_write`."""
    return atomic_write(path, lambda stream: stream.write(text.encode("utf-8")))


def atomic_torch_save(obj: Any, path: str | Path) -> Path:
    """``torch.save`` through :func:`atomic_write`."""
    return atomic_write(path, lambda stream: torch.save(obj, stream))
