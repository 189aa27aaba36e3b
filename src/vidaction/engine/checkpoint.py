"""Training checkpoints: written atomically, read back on the CPU."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from vidaction.io import atomic_torch_save


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> Path:
    """Write ``state`` to ``path`` through a temporary file and a rename (never half-written)."""
    return atomic_torch_save(state, path)


def load_checkpoint(path: str | Path, mmap: bool = False) -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint` (it holds RNG states, hence full unpickling);
    ``mmap`` maps the tensors from the file instead of reading them (to look at the config only)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    return torch.load(path, map_location="cpu", weights_only=False, mmap=mmap)
