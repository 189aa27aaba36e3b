"""Training checkpoints: written atomically, read back on the CPU as data, never as code.

A checkpoint holds tensors and plain data only (the config as a dict, class names, history,
optimiser / scheduler / scaler states, RNG states as tensors), so it is read with
``torch.load(weights_only=True)`` (:func:`vidaction.models.pretrained.load_torch_file`); a file that
holds other Python objects is refused with :class:`~vidaction.models.pretrained.UnsafeCheckpointError`
unless read inside :func:`~vidaction.models.pretrained.trusted_checkpoints`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vidaction.io import atomic_torch_save
from vidaction.models.pretrained import load_torch_file


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> Path:
    """Write ``state`` to ``path`` through a temporary file and a rename (never half-written)."""
    return atomic_torch_save(state, path)


def load_checkpoint(path: str | Path, mmap: bool = False) -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint` with ``weights_only=True``; ``mmap`` maps
    the tensors from the file instead of reading them (to look at the config only)."""
    state = load_torch_file(path, mmap=mmap)
    if not isinstance(state, dict):
        raise FileNotFoundError(f"{path}: holds a {type(state).__name__}, not a checkpoint")
    return state
