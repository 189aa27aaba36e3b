"""The inputs of the commands that run over many videos (``infer``, ``detect``, ``extract-features``,
``extract-flow``): files and folders named on the command line, expanded into a sorted list, and the
video ids their outputs are keyed by.

A file is taken as given; a folder is searched recursively for video files (by their suffix,
:data:`VIDEO_EXTENSIONS`) or, for ``modality="flow"``, for stored flows (JPEG folders holding a
``flow.json``, ``.npy`` flows with their ``.json``). A video's id is its file stem (a flow folder's
name); outputs are keyed by it, so two inputs with one id are refused before any work. Frame
folders (a dataset's extracted JPEGs) are found by their first frame's file name.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from vidaction.config import ConfigError

VIDEO_EXTENSIONS = (".mp4", ".avi", ".mkv", ".webm", ".mov", ".m4v", ".mpg", ".mpeg", ".flv", ".wmv", ".3gp")


class DuplicateVideoIdError(ConfigError):
    """Two inputs would write (or be scored as) the same video id (a user error: the command line exits 2)."""


def find_inputs(paths: Iterable[str | Path], modality: str = "rgb") -> list[Path]:
    """The videos (``"rgb"``) or stored flows (``"flow"``) named by ``paths`` (module docstring), sorted per
    folder, each once. Raises ``FileNotFoundError`` for a missing path or when nothing is found."""
    from vidaction.data.flow import MARKER_NAME

    paths = list(paths)
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if not path.exists():
            raise FileNotFoundError(f"no such video or folder: {path}")
        if path.is_file() or (modality == "flow" and (path / MARKER_NAME).is_file()):
            found.append(path)
        elif modality == "flow":
            folders = sorted(marker.parent for marker in path.rglob(MARKER_NAME))
            arrays = sorted(p for p in path.rglob("*.npy") if p.with_suffix(".json").is_file())
            found.extend(sorted(folders + arrays))
        else:
            found.extend(sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in VIDEO_EXTENSIONS))
    if not found:
        kind = "stored flow" if modality == "flow" else f"video ({', '.join(VIDEO_EXTENSIONS)})"
        raise FileNotFoundError(f"no {kind} found in {', '.join(map(str, paths))}")
    return list(dict.fromkeys(found))


def find_frame_folders(paths: Iterable[str | Path], first_frame: str) -> list[Path]:
    """Frame folders named by ``paths``: a folder holding ``first_frame`` is one, others are searched
    recursively for such folders (sorted). Raises ``FileNotFoundError`` for a missing path or none found."""
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if not path.exists():
            raise FileNotFoundError(f"no such frame folder: {path}")
        if (path / first_frame).is_file() or path.is_file():
            found.append(path)
        else:
            found.extend(sorted(frame.parent for frame in path.rglob(first_frame)))
    if not found:
        raise FileNotFoundError(f"no frame folder (holding {first_frame}) found in {', '.join(map(str, paths))}")
    return found


def video_id_of(path: Path) -> str:
    """The id an input's outputs are keyed by: its file stem (a flow folder's name)."""
    return path.stem if path.is_file() else path.name


def check_unique_ids(inputs: Sequence[Path], remedy: str) -> None:
    """Refuse two inputs with one id (:class:`DuplicateVideoIdError` naming both and ``remedy``)."""
    seen: dict[str, Path] = {}
    for path in inputs:
        other = seen.setdefault(video_id_of(path), path)
        if other != path:
            raise DuplicateVideoIdError(f"{other} and {path} share the video id {video_id_of(path)!r}; {remedy}")
